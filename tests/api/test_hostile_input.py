"""Hostile and malformed input to the user-data API (found by a bug hunt of session 6).

Each must get a clear 4xx (or be reported as a refused import row), never a 500, and
never cost the tenant the rest of its upload.
"""

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import DatabaseError, connection
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.imports.models import ImportJob
from accounts.models import Membership, User
from consents.models import Consent, ConsentRecord
from consents.services import consent_grant
from harbourmaster.api import pagination
from harbourmaster.api.pagination import IdCursorPagination
from tests.api.conftest import assert_problem
from tests.api.test_users_concurrency import THREADS, race
from tests.conftest import SYSTEM

IMPORTS = "/api/v1/users/imports"
JSONL = "application/x-ndjson"
WHEN = "2026-01-15T10:00:00Z"


@pytest.fixture
def api(world, api_as):
    """Acme's backend with every user-data scope; a server error comes back as a 500
    response instead of being raised in the test."""
    client = api_as(world.acme.backend, ["users:read", "users:write", "consents:write"])
    client.raise_request_exception = False
    return client


def cursor(query: str) -> str:
    """A cursor as the hub seals one (DRF's base64 of a query string, encrypted with the
    hub's key): what someone holding the key could make, here with a tampered position."""
    return pagination._sealer().encrypt(base64.b64encode(query.encode())).decode()


def import_run(api, django_capture_on_commit_callbacks, body: str, content_type: str = JSONL):
    """POST an upload and run its queued task; the job and the database error that stopped it, if any."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(IMPORTS, data=body.encode(), content_type=content_type)
    assert response.status_code == 202, response.content
    crashed = None
    for callback in callbacks:
        try:
            callback()
        except DatabaseError as error:
            crashed = error
    return ImportJob.all_tenants.get(), crashed


# --- Import: a malformed row must be reported with its line, not sink the upload -------------


@pytest.mark.parametrize(
    "bad_row",
    [
        # An unknown key holding a NUL: the row error's path carries it.
        '{"email": "two@example.org", "giv\\u0000en_name": "Two"}',
        # A lone surrogate in an unknown key: the same.
        '{"email": "two@example.org", "giv\\ud800en_name": "Two"}',
        # A consent action holding a NUL: DRF's "is not a valid choice" message quotes it.
        '{"email": "two@example.org", "consents": [{"purpose": "newsletter", "action": "gr\\u0000ant", "occurred_at": "2026-01-15T10:00:00Z"}]}',
    ],
    ids=["nul-in-key", "surrogate-in-key", "nul-in-choice"],
)
def test_an_import_row_whose_error_quotes_a_nul_or_surrogate_is_reported_not_fatal(
    world, api, django_capture_on_commit_callbacks, bad_row
):
    """PostgreSQL's text and jsonb hold neither NUL nor a lone surrogate. Such a row is
    refused with its line; stored, or quoted in its error report, it would fail its
    batch's statement and take the good rows with it."""
    body = '{"email": "one@example.org"}\n' + bad_row + '\n{"email": "three@example.org"}\n'
    job, crashed = import_run(api, django_capture_on_commit_callbacks, body)
    assert crashed is None, f"the import crashed on line 2's error report: {crashed!r}"
    assert (job.status, job.rows_done, job.rows_failed) == ("done", 2, 1)
    assert list(job.row_errors.values_list("line", flat=True)) == [2]
    assert User.objects.filter(email__in=["one@example.org", "three@example.org"]).count() == 2


def test_a_csv_upload_with_an_unterminated_quote_reports_the_row_instead_of_swallowing_the_file(
    world, api, django_capture_on_commit_callbacks
):
    """An opening quote that never closes is reported at its line, not read as a cell
    that swallows the rest of the file into Bea's given name."""
    body = (
        "email,given_name\n"
        "ann@import.example,Ann\n"
        'bea@import.example,"Bea\n'
        "cid@import.example,Cid\n"
        "dot@import.example,Dot\n"
    )
    job, crashed = import_run(api, django_capture_on_commit_callbacks, body, "text/csv")
    assert crashed is None
    swallowed = User.objects.filter(given_name__contains="cid@import.example").values_list("given_name", flat=True)
    assert not swallowed, f"a given name holds the rest of the file: {list(swallowed)}"
    error = job.row_errors.get()
    assert error.line == 3
    assert "lines 3-5 were not imported" in json.dumps(error.errors)
    assert not User.objects.filter(
        email__in=["bea@import.example", "cid@import.example", "dot@import.example"]
    ).exists()
    assert User.objects.filter(email="ann@import.example").exists()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [(JSONL, '{"email": "one@example.org"}\n\x00\n'), ("text/csv", "email\none@example.org\n\x00\n")],
    ids=["jsonl", "csv"],
)
def test_an_upload_holding_a_nul_byte_is_a_400_not_a_500(world, api, content_type, body):
    """The upload is stored whole in ImportJob.body, a PostgreSQL text column, which cannot
    hold NUL: the INSERT fails with DataError and the caller gets a 500."""
    response = api.post(IMPORTS, data=body.encode(), content_type=content_type)
    assert_problem(response, 400)
    assert not ImportJob.all_tenants.exists()


def test_a_jsonl_upload_with_a_deeply_nested_value_is_refused_not_a_500(world, api, django_capture_on_commit_callbacks):
    """upload_summary parses each line with json.loads and catches only ValueError; a deeply
    nested array raises RecursionError, which becomes a 500."""
    body = '{"email": "one@example.org", "given_name": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    job, crashed = import_run(api, django_capture_on_commit_callbacks, body)
    assert crashed is None
    assert (job.status, job.rows_failed) == ("done", 1)
    assert "nested too deeply" in json.dumps(job.row_errors.get(line=1).errors)


def test_a_replayed_upload_answers_with_the_same_location_header(world, api, django_capture_on_commit_callbacks):
    """An Idempotency-Key replay answers exactly as the first did (decision 0011): the
    Location to follow too, not only the status and body."""
    body = '{"email": "one@example.org"}\n'
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(IMPORTS, data=body.encode(), content_type=JSONL, HTTP_IDEMPOTENCY_KEY="upload-1")
        again = api.post(IMPORTS, data=body.encode(), content_type=JSONL, HTTP_IDEMPOTENCY_KEY="upload-1")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (202, 202, "true")
    assert again.get("Location") == first["Location"]


# --- Cursors and filters: tampered or extreme values get a 4xx ---------------------------


@pytest.mark.parametrize("position", ["abc", "", "1.5"])
def test_a_tampered_cursor_position_is_refused_not_a_500(world, api, position):
    """A cursor whose position is not an id is refused as DRF refuses one it cannot decode.
    Every list of the API shares IdCursorPagination: the export, an import's errors and
    the purposes shown."""
    tampered = cursor(f"p={position}")
    job = api.post(IMPORTS, data=b'{"email": "one@example.org"}\n', content_type=JSONL).json()
    lists = ["/api/v1/purposes/newsletter/users", job["errors_url"], "/api/v1/purposes"]
    statuses = {url: api.get(f"{url}?cursor={tampered}").status_code for url in lists}
    assert statuses == dict.fromkeys(lists, 404)  # DRF's "Invalid cursor", as for an undecodable one


@pytest.mark.parametrize("name", ["changed_since", "consent_granted_since"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"])
def test_export_filters_at_the_ends_of_the_calendar_are_not_a_500(world, api, name, value):
    """A valid ISO time whose UTC instant falls before year 1 or after year 9999 cannot be
    compared in UTC: a 400 naming the filter."""
    response = api.get(f"/api/v1/purposes/newsletter/users?{name}={value}")
    body = assert_problem(response, 400)
    assert name in json.dumps(body), body


# --- JSON bodies: hostile JSON gets a 400 -----------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/users", "/api/v1/users/lookup", "/api/v1/consents"])
def test_deeply_nested_json_is_a_400_not_a_500(world, api, url):
    """DRF's JSONParser turns ValueError into a 400 but not RecursionError: 200 KB of
    nested brackets, well under the 2 MB body limit, answers 500 on every JSON endpoint."""
    body = "[" * 100_000 + "]" * 100_000
    assert_problem(api.post(url, body, content_type="application/json"), 400)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/users", '{"email": "dora@example.org", "sh\\ud800oe": 1}'),
        ("/api/v1/users/lookup", '{"purpose": "newsletter", "identifiers": [{"sh\\ud800oe": 1}]}'),
        (
            "/api/v1/consents",
            '{"user": {"email": "alice@example.org"}, "purpose": "newsletter", "action": "gr\\ud800ant", "occurred_at": "2026-01-15T10:00:00Z"}',
        ),
    ],
    ids=["push-unknown-key", "lookup-unknown-key", "consent-choice"],
)
def test_a_lone_surrogate_echoed_in_an_error_is_a_400_not_a_500(world, api, url, body):
    """The error body quotes the offending key (StrictSerializer) or value (ChoiceField);
    the JSON renderer writes non-ASCII as it is (UNICODE_JSON) and then encodes UTF-8,
    which a lone surrogate cannot be: UnicodeEncodeError while rendering the 400, a 500."""
    response = api.post(url, body, content_type="application/json")
    assert_problem(response, 400)
    json.loads(response.content)


# --- Paths -------------------------------------------------------------------------------


def test_a_uuid_in_upper_case_names_the_same_user(world, api):
    """UUIDs are case-insensitive on input (RFC 9562) and the batch lookup accepts either
    case, but the `<uuid:...>` path converter matches lower case only: an upper-case uuid
    gets Django's HTML 404 page, not the user and not a problem+json body."""
    lower = api.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter")
    upper = api.get(f"/api/v1/users/{str(world.alice.uuid).upper()}?purpose=newsletter")
    assert lower.status_code == 200
    assert (upper.status_code, upper["Content-Type"]) == (200, "application/json"), upper.content[:80]
    assert upper.json() == lower.json()


# --- Concurrency ---------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions")
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_grants_of_one_consent_all_succeed(world, api_as):
    """A first grant has no consent row to lock. Concurrent first grants (a tenant system's
    retry without an Idempotency-Key, two of its systems at once) all succeed: one is
    recorded, the others are idempotent repeats."""
    body = {
        "user": {"uuid": str(world.carol.uuid)},
        "purpose": "newsletter",
        "action": "grant",
        "occurred_at": WHEN,
    }
    # Carol signed in to Acme: Acme may name her by uuid, and its word grants (decision 35).
    Membership.all_tenants.create(tenant=world.acme.tenant, user=world.carol, source="sign_in")
    responses = race(api_as, world.acme.backend, "/api/v1/consents", body, scopes=["consents:write"])
    assert [response.status_code for response in responses] == [200] * THREADS
    assert Consent.all_tenants.filter(user=world.carol, purpose=world.acme.newsletter, state="granted").count() == 1
    assert ConsentRecord.all_tenants.filter(user=world.carol, purpose=world.acme.newsletter).count() == 1


def test_a_csv_upload_whose_header_quote_never_closes_is_a_400(world, api):
    response = api.post(IMPORTS, data=b'email,"given_name\none@example.org,One\n', content_type="text/csv")
    body = assert_problem(response, 400)
    assert "not valid CSV" in json.dumps(body)
    assert not ImportJob.all_tenants.exists()


# --- Query parameters: what the caller did not mean is refused, not guessed -------------------


def test_a_cursor_tells_no_internal_id_and_one_made_without_the_key_is_refused(world, api):
    for user in (world.bob, world.carol):
        consent_grant(actor=SYSTEM, user=user, purpose=world.acme.newsletter, channel="web")
    first = api.get("/api/v1/purposes/newsletter/users?page_size=1").json()
    users = set(User.objects.values_list("pk", flat=True))
    sealed = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    assert not any(f"p={pk}" in _base64_text(sealed) for pk in users)  # the id is not in it
    assert api.get(first["next"]).status_code == 200
    plain = base64.b64encode(f"p={min(users)}".encode()).decode()  # DRF's own cursor, unsealed
    assert_problem(api.get(f"/api/v1/purposes/newsletter/users?cursor={plain}"), 404)


def _base64_text(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "==").decode("latin-1")
    except ValueError:
        return ""


@pytest.mark.parametrize("page_size", ["abc", "0", "-5", "1.5", "٣"])
def test_a_page_size_that_is_not_a_whole_number_from_one_is_a_400(world, api, page_size):
    body = assert_problem(api.get(f"/api/v1/purposes/newsletter/users?page_size={page_size}"), 400)
    assert body["errors"] == [{"path": "/page_size", "message": "a whole number from 1"}]


def test_a_page_size_above_the_maximum_gets_the_maximum():
    request = Request(APIRequestFactory().get("/", {"page_size": "100000"}))
    assert IdCursorPagination().get_page_size(request) == IdCursorPagination.max_page_size == 500


def test_a_misspelt_parameter_of_a_single_lookup_is_refused_not_ignored(world, api):
    response = api.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter&feilds=uuid")
    body = assert_problem(response, 400)
    assert body["errors"] == [{"path": "/feilds", "message": "unknown query parameter"}]


def test_a_format_no_renderer_has_is_a_406_not_a_404(world, api):
    response = api.get("/api/v1/purposes/newsletter/users?format=xml")
    assert response.status_code == 406, response.content
    assert "jsonl" in response.json()["detail"]


def test_a_nul_in_a_tenant_config_is_a_400_and_changes_nothing(world, acme_admin):
    body = b'{"branding": {"display_name": "Ac\\u0000me"}}'
    response = acme_admin.patch(
        "/api/v1/tenant/config", data=body, content_type="application/merge-patch+json", HTTP_IF_MATCH='"1"'
    )
    assert_problem(response, 400)
    world.acme.tenant.refresh_from_db()
    assert world.acme.tenant.config_version == 1
