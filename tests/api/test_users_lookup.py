"""Look users up (users:read): only users visible for the purpose, only its fields, always recorded."""

import pytest
from django.db import DatabaseError

from accounts.models import Membership
from audit.models import AccessRecord, AccessRecordSubject
from consents.models import Channel
from consents.services import consent_grant, consent_withdraw, purpose_retire
from tests.api.conftest import assert_problem
from tests.conftest import SYSTEM

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def reader(world, api_as):
    return api_as(world.acme.backend, ["users:read"])


def subjects(record: AccessRecord) -> set[int]:
    return set(AccessRecordSubject.all_tenants.filter(record=record).values_list("user_id", flat=True))


def test_one_user_with_exactly_the_purposes_fields_and_a_record(world, reader):
    response = reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200, response.content
    assert response.json() == {"uuid": str(world.alice.uuid), "email": "alice@example.org", "email_verified": False}
    assert response["X-Request-ID"] == "req-42"
    record = AccessRecord.all_tenants.get()
    assert (record.tenant, record.client, record.purpose, record.action, record.request_id) == (
        world.acme.tenant,
        world.acme.backend,
        "newsletter",
        "users.retrieve",
        "req-42",
    )
    assert record.fields == ["email", "email_verified", "uuid"] and subjects(record) == {world.alice.pk}


def test_a_user_without_consent_is_404_like_a_missing_one_and_unrecorded(world, reader):
    not_consenting = reader.get(f"/api/v1/users/{world.carol.uuid}?purpose=newsletter")
    missing = reader.get(f"/api/v1/users/{MISSING}?purpose=newsletter")
    assert assert_problem(not_consenting, 404) == assert_problem(missing, 404)
    assert not AccessRecord.all_tenants.exists()


def test_another_tenants_consenter_is_404(world, api_as):
    bolt = api_as(world.bolt.backend, ["users:read"])
    # Bolt has a "newsletter" too; Alice consents only to Acme's.
    assert_problem(bolt.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter"), 404)
    assert_problem(bolt.get(f"/api/v1/users/{world.bob.uuid}?purpose=newsletter"), 404)
    assert bolt.get(f"/api/v1/users/{world.bob.uuid}?purpose=postal-marketing").status_code == 200
    assert_problem(
        api_as(world.acme.backend, ["users:read"]).get(f"/api/v1/users/{world.bob.uuid}?purpose=postal-marketing"), 404
    )


def test_withdrawal_takes_effect_on_the_next_request(world, reader):
    assert reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter").status_code == 200
    consent_withdraw(actor=SYSTEM, user=world.alice, purpose=world.acme.newsletter, channel=Channel.WEB)
    assert_problem(reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter"), 404)


def test_fields_outside_the_purpose_are_refused_not_dropped(world, reader):
    url = f"/api/v1/users/{world.alice.uuid}?purpose=newsletter"
    assert_problem(reader.get(f"{url}&fields=address"), 403)
    assert_problem(reader.get(f"{url}&fields=email,given_name"), 403)
    assert_problem(reader.get(f"{url}&fields=shoe_size"), 400, path="/fields")
    assert reader.get(f"{url}&fields=email_verified").json() == {"uuid": str(world.alice.uuid), "email_verified": False}
    assert AccessRecord.all_tenants.get().fields == ["email_verified", "uuid"]


def test_the_tenants_scopes_cap_the_purposes_categories(world, reader, make_purpose):
    # Acme's config allows profile, email and address; not phone.
    make_purpose(world.acme.tenant, "sms", data_categories=["phone", "email"])
    purpose = world.acme.tenant.purposes.get(slug="sms")
    consent_grant(actor=SYSTEM, user=world.alice, purpose=purpose, channel=Channel.WEB)
    body = reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=sms").json()
    assert set(body) == {"uuid", "email", "email_verified"}
    assert_problem(reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=sms&fields=phone"), 403)


def test_members_who_signed_in_are_visible_only_for_non_consent_purposes(world, reader, make_purpose):
    make_purpose(world.acme.tenant, "orders", data_categories=["profile"], legal_basis="contract")
    Membership.all_tenants.create(tenant=world.acme.tenant, user=world.carol, source="sign_in")
    Membership.all_tenants.create(tenant=world.acme.tenant, user=world.bob, source="api")
    body = reader.get(f"/api/v1/users/{world.carol.uuid}?purpose=orders").json()
    assert body["given_name"] == "Carol" and "email" not in body
    assert_problem(reader.get(f"/api/v1/users/{world.carol.uuid}?purpose=newsletter"), 404)
    # A push or import does not open a user: only signing in does.
    assert_problem(reader.get(f"/api/v1/users/{world.bob.uuid}?purpose=orders"), 404)


def test_a_retired_purpose_reads_nobody_whatever_its_legal_basis(world, reader, make_purpose):
    orders = make_purpose(world.acme.tenant, "orders", data_categories=["profile"], legal_basis="contract")
    Membership.all_tenants.create(tenant=world.acme.tenant, user=world.carol, source="sign_in")
    assert reader.get(f"/api/v1/users/{world.carol.uuid}?purpose=orders").status_code == 200
    purpose_retire(actor=SYSTEM, purpose=orders)
    assert_problem(reader.get(f"/api/v1/users/{world.carol.uuid}?purpose=orders"), 404)
    assert reader.get("/api/v1/purposes/orders/users").json()["results"] == []
    streamed = reader.get("/api/v1/purposes/orders/users", HTTP_ACCEPT="application/x-ndjson")
    assert streamed.status_code == 200 and b"".join(streamed.streaming_content) == b""
    body = {"purpose": "orders", "identifiers": [{"uuid": str(world.carol.uuid)}]}
    assert reader.post("/api/v1/users/lookup", body, format="json").json()["results"] == []


def test_purpose_is_required_and_must_be_the_callers(world, reader):
    assert_problem(reader.get(f"/api/v1/users/{world.alice.uuid}"), 400, path="/purpose")
    assert_problem(reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=no-such"), 404)


def test_lookup_needs_users_read(world, api_as):
    api = api_as(world.acme.backend, ["users:write", "consents:write"])
    assert_problem(api.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter"), 403)
    body = {"purpose": "newsletter", "identifiers": [{"uuid": str(world.alice.uuid)}]}
    assert_problem(api.post("/api/v1/users/lookup", body, format="json"), 403)
    assert not AccessRecord.all_tenants.exists()


def test_no_record_no_response(world, reader, monkeypatch):
    def fail(**kwargs):
        raise DatabaseError("audit table unavailable")

    monkeypatch.setattr("accounts.api.base.access_record", fail)
    response = reader.get(f"/api/v1/users/{world.alice.uuid}?purpose=newsletter")
    body = assert_problem(response, 503)
    assert "alice" not in response.content.decode() and body["type"].endswith("read-not-recorded")
    body = {"purpose": "newsletter", "identifiers": [{"uuid": str(world.alice.uuid)}]}
    assert_problem(reader.post("/api/v1/users/lookup", body, format="json"), 503)


def test_batch_returns_only_visible_users_and_records_them(world, reader):
    identifiers = [
        {"email": "ALICE@example.org"},
        {"email": "bob@example.org"},
        {"uuid": MISSING},
        {"uuid": str(world.carol.uuid)},
        {"uuid": str(world.alice.uuid)},
    ]
    response = reader.post("/api/v1/users/lookup", {"purpose": "newsletter", "identifiers": identifiers}, format="json")
    assert response.status_code == 200, response.content
    alice = {"uuid": str(world.alice.uuid), "email": "alice@example.org", "email_verified": False}
    assert response.json()["results"] == [
        {"index": 0, "identifier": {"email": "ALICE@example.org"}, "user": alice},
        {"index": 4, "identifier": {"uuid": str(world.alice.uuid)}, "user": alice},
    ]
    record = AccessRecord.all_tenants.get()
    assert record.action == "users.lookup" and subjects(record) == {world.alice.pk} and record.subject_count == 1


def test_batch_by_external_id_is_the_tenants_own(world, api_as, reader):
    api_as(world.acme.backend, ["users:write"]).post(
        "/api/v1/users", {"uuid": str(world.alice.uuid), "external_id": "A-1"}, format="json"
    )
    body = {"purpose": "newsletter", "fields": ["email"], "identifiers": [{"external_id": "A-1"}]}
    results = reader.post("/api/v1/users/lookup", body, format="json").json()["results"]
    # "email" names the category (email and email_verified), as the OIDC scope does.
    alice = {"uuid": str(world.alice.uuid), "email": "alice@example.org", "email_verified": False}
    assert [match["user"] for match in results] == [alice]
    bolt = api_as(world.bolt.backend, ["users:read"])
    assert bolt.post("/api/v1/users/lookup", body, format="json").json()["results"] == []


def test_bad_batches_are_refused_with_paths(world, reader):
    too_many = {"purpose": "newsletter", "identifiers": [{"uuid": MISSING}] * 1001}
    assert_problem(reader.post("/api/v1/users/lookup", too_many, format="json"), 400, path="/identifiers")
    bad = {
        "purpose": "newsletter",
        "identifiers": [{"uuid": MISSING}, {"email": "a@b.c", "uuid": MISSING}, {"shoe": 1}],
    }
    body = assert_problem(reader.post("/api/v1/users/lookup", bad, format="json"), 400)
    assert {"/identifiers/1", "/identifiers/2/shoe"} <= {error["path"] for error in body["errors"]}
    assert_problem(
        reader.post(
            "/api/v1/users/lookup", {"purpose": "bolt-only", "identifiers": [{"uuid": MISSING}]}, format="json"
        ),
        404,
    )
    assert not AccessRecord.all_tenants.exists()


def test_a_nul_in_a_query_parameter_is_a_400_naming_it_and_reads_nothing(world, reader):
    response = reader.get(f"/api/v1/users/{world.alice.uuid}", {"purpose": "news\x00letter"})
    body = assert_problem(response, 400, path="/purpose")
    assert "NUL" in str(body)
    assert not AccessRecord.all_tenants.exists()
