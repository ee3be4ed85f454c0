"""Bulk import (users:write, + consents:write for consents): JSON Lines and CSV uploads
worked through row by row by a Celery task (eager here), with progress and row errors."""

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.imports import services as import_services
from accounts.imports import writing
from accounts.imports.models import ImportJob
from accounts.models import Membership, User
from accounts.tasks import import_job_process, import_jobs_sweep
from consents.models import Consent, ConsentRecord
from consents.services import purpose_retire
from events.models import Event
from tests.api.conftest import assert_problem
from tests.conftest import SYSTEM

IMPORTS = "/api/v1/users/imports"
JSONL = "application/x-ndjson"
WHEN = "2026-01-15T10:00:00Z"


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """POST an upload; the task queued on commit runs when the request's transaction ends."""

    def send(api, body: str, content_type: str = JSONL, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(IMPORTS, data=body.encode(), content_type=content_type, **headers)

    return send


def jsonl(*rows) -> str:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n"


def job_of(api, response) -> dict:
    assert response.status_code == 202, response.content
    progress = api.get(response["Location"])
    assert progress.status_code == 200, progress.content
    return progress.json()


def row_errors(api, job: dict) -> list[dict]:
    response = api.get(job["errors_url"])
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def importer(world, api_as):
    return api_as(world.acme.backend, ["users:write", "consents:write"])


def test_jsonl_import_creates_and_updates_users_with_their_consents(world, importer, upload, api_as):
    body = jsonl(
        {
            "external_id": "C-1",
            "email": "Dora@Example.org",
            "given_name": "Dora",
            "consents": [{"purpose": "newsletter", "action": "grant", "occurred_at": WHEN}],
        },
        {"uuid": str(world.alice.uuid), "nickname": "Ali"},
        {"external_id": "C-3", "phone_number": "+4930123456", "given_name": "Erin"},
    )
    response = upload(importer, body)
    assert response.json()["status"] == "queued" and response.json()["rows_total"] == 3
    job = job_of(importer, response)
    assert (job["status"], job["rows_total"], job["rows_done"], job["rows_failed"], job["last_line"]) == (
        "done",
        3,
        3,
        0,
        3,
    )
    assert row_errors(importer, job) == []
    dora = User.objects.get(email="dora@example.org")
    assert Membership.all_tenants.get(user=dora, tenant=world.acme.tenant).external_id == "C-1"
    assert User.objects.get(pk=world.alice.pk).nickname == "Ali"
    assert User.objects.get(phone_number="+4930123456").given_name == "Erin"
    proof = ConsentRecord.all_tenants.get(user=dora)
    assert (proof.channel, proof.client, proof.purpose, proof.action) == (
        "import",
        world.acme.backend,
        world.acme.newsletter,
        "grant",
    )
    assert proof.occurred_at.isoformat() == "2026-01-15T10:00:00+00:00"
    # What the tenant sees: Dora is now in its newsletter export.
    reader = api_as(world.acme.backend, ["users:read"])
    exported = reader.get("/api/v1/purposes/newsletter/users").json()["results"]
    assert {row["email"] for row in exported} == {"alice@example.org", "dora@example.org"}
    assert ImportJob.all_tenants.get(uuid=job["id"]).body == ""  # the upload is not kept


def test_csv_import_reads_consent_columns_and_multi_line_cells(world, importer, upload):
    body = (
        "external_id,email,email_verified,given_name,address_street,consent:newsletter,consent:postal-marketing,consent_occurred_at\r\n"
        'C-1,dora@example.org,true,Dora,"Hafenstr. 1\nHinterhaus",grant,,2026-01-15T10:00:00Z\r\n'
        "C-2,erin@example.org,,Erin,,grant,grant,2026-01-16T10:00:00Z\r\n"
        "C-3,not-an-email,,Fay,,,,\r\n"
    )
    job = job_of(importer, upload(importer, body, "text/csv"))
    assert (job["status"], job["format"], job["rows_total"], job["rows_done"], job["rows_failed"]) == (
        "done",
        "csv",
        3,
        2,
        1,
    )
    # The header is line 1 and Dora's row spans lines 2-3, so Fay's row starts on line 5.
    assert row_errors(importer, job) == [
        {"line": 5, "errors": [{"path": "/email", "message": "Enter a valid email address."}]}
    ]
    dora = User.objects.get(email="dora@example.org")
    assert (dora.email_verified, dora.address_street) == (True, "Hafenstr. 1\nHinterhaus")
    erin = User.objects.get(email="erin@example.org")
    granted = Consent.all_tenants.filter(user=erin, state="granted").values_list("purpose__slug", flat=True)
    assert sorted(granted) == ["newsletter", "postal-marketing"]
    assert not User.objects.filter(given_name="Fay").exists()


def test_malformed_rows_are_reported_by_line_and_do_not_stop_the_others(world, importer, upload):
    body = jsonl(
        {"email": "one@example.org"},
        '{"email": "two@example.org",',
        "",
        {"email": "not-an-email"},
        '["a", "list"]',
        {"email": "six@example.org", "consents": [{"purpose": "no-such", "action": "grant", "occurred_at": WHEN}]},
        {"email": "seven@example.org", "tenant": "bolt"},
        {"given_name": "No Identifier"},
        {"email": "nine@example.org"},
    )
    job = job_of(importer, upload(importer, body))
    assert (job["rows_total"], job["rows_done"], job["rows_failed"], job["last_line"]) == (8, 2, 6, 9)
    errors = {error["line"]: error["errors"] for error in row_errors(importer, job)}
    assert sorted(errors) == [2, 4, 5, 6, 7, 8]
    assert errors[2][0]["path"] == "/" and errors[2][0]["message"].startswith("not valid JSON")
    assert errors[4] == [{"path": "/email", "message": "Enter a valid email address."}]
    assert errors[5] == [{"path": "/", "message": "a line must hold one JSON object"}]
    assert errors[6] == [{"path": "/consents/0/purpose", "message": "your tenant has no purpose of this name"}]
    assert errors[7] == [{"path": "/tenant", "message": "This field is not accepted here."}]
    assert errors[8][0]["path"] == "/email"
    emails = set(User.objects.filter(email__endswith="@example.org").values_list("email", flat=True))
    assert {"one@example.org", "nine@example.org"} <= emails
    assert not emails & {"six@example.org", "seven@example.org"}


def test_a_row_whose_consent_fails_leaves_no_change_to_the_user(world, importer, upload, api_as):
    pusher = api_as(world.acme.backend, ["users:write"])
    uuid = pusher.post("/api/v1/users", {"email": "dora@example.org", "external_id": "C-1"}, format="json").json()[
        "uuid"
    ]
    purpose_retire(actor=SYSTEM, purpose=world.acme.postal)
    events_before = Event.all_tenants.count()
    body = jsonl(
        {
            "external_id": "C-1",
            "given_name": "Dorothea",
            "consents": [
                {"purpose": "newsletter", "action": "grant", "occurred_at": WHEN},
                {"purpose": "newsletter", "action": "grant", "version": 99, "occurred_at": WHEN},
            ],
        },
        {
            "email": "erin@example.org",
            "consents": [{"purpose": "postal-marketing", "action": "grant", "occurred_at": WHEN}],
        },
    )
    job = job_of(importer, upload(importer, body))
    assert (job["rows_done"], job["rows_failed"]) == (0, 2)
    errors = {error["line"]: error["errors"] for error in row_errors(importer, job)}
    assert errors[1] == [{"path": "/consents/1/version", "message": "purpose newsletter has no statement version 99"}]
    assert errors[2] == [
        {"path": "/consents/0/purpose", "message": "this purpose is retired and takes no new consents"}
    ]
    dora = User.objects.get(uuid=uuid)
    assert dora.given_name == ""  # the profile change went back with the failed consent
    assert not ConsentRecord.all_tenants.filter(user=dora).exists()
    assert not User.objects.filter(email="erin@example.org").exists()
    assert Event.all_tenants.count() == events_before


def test_another_tenants_import_is_not_found(world, importer, upload, api_as):
    job = job_of(importer, upload(importer, jsonl({"email": "dora@example.org"})))
    bolt = api_as(world.bolt.backend, ["users:write"])
    missing = assert_problem(bolt.get(f"{IMPORTS}/00000000-0000-4000-8000-000000000000"), 404)
    assert assert_problem(bolt.get(f"{IMPORTS}/{job['id']}"), 404) == missing
    assert assert_problem(bolt.get(f"{IMPORTS}/{job['id']}/errors"), 404) == missing


def test_import_needs_users_write_and_consents_write_for_consents(world, api_as, upload):
    reader = api_as(world.acme.backend, ["users:read", "consents:write"])
    assert_problem(upload(reader, jsonl({"email": "dora@example.org"})), 403)
    writer = api_as(world.acme.backend, ["users:write"])
    with_consent = {
        "email": "erin@example.org",
        "consents": [{"purpose": "newsletter", "action": "grant", "occurred_at": WHEN}],
    }
    body = assert_problem(upload(writer, jsonl({"email": "dora@example.org"}, with_consent)), 403)
    assert "consents:write" in body["detail"]
    csv_body = "email,consent:newsletter,consent_occurred_at\nerin@example.org,grant,2026-01-15T10:00:00Z\n"
    assert_problem(upload(writer, csv_body, "text/csv"), 403)
    assert not ImportJob.all_tenants.exists()
    assert not User.objects.filter(email__in=["dora@example.org", "erin@example.org"]).exists()
    assert job_of(writer, upload(writer, jsonl({"email": "dora@example.org"})))["rows_done"] == 1
    assert_problem(reader.get(f"{IMPORTS}/{ImportJob.all_tenants.get().uuid}"), 403)


@override_settings(USER_IMPORT_MAX_BYTES=200, DATA_UPLOAD_MAX_MEMORY_SIZE=50)
def test_uploads_over_the_import_limit_answer_413(world, importer, upload):
    big = jsonl(*({"email": f"user{n}@example.org"} for n in range(10)))
    body = assert_problem(upload(importer, big), 413)
    assert "200 bytes" in body["detail"]
    assert not ImportJob.all_tenants.exists()
    # The import has its own limit: a file over the JSON request limit is fine within it.
    small = jsonl({"email": "dora@example.org"}, {"email": "erin@example.org"})
    assert job_of(importer, upload(importer, small))["rows_done"] == 2


def test_unreadable_uploads_are_refused_whole(world, importer, upload):
    assert_problem(upload(importer, "\n\n"), 400)
    body = assert_problem(upload(importer, "email,tenant,email\nx@example.org,bolt,y\n", "text/csv"), 400)
    assert body["errors"] == [
        {"path": "/tenant", "message": "unknown column"},
        {"path": "/email", "message": "column appears twice"},
    ]
    assert_problem(upload(importer, '{"email": "dora@example.org"}', "application/json"), 415)
    assert_problem(importer.post(IMPORTS, data=b"\xff\xfe{}", content_type=JSONL), 400)
    assert not ImportJob.all_tenants.exists()


def test_a_retried_upload_with_the_same_key_makes_one_job(world, importer, upload):
    body = jsonl({"email": "dora@example.org"})
    first = upload(importer, body, HTTP_IDEMPOTENCY_KEY="batch-7")
    again = upload(importer, body, HTTP_IDEMPOTENCY_KEY="batch-7")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (202, 202, "true")
    assert again.json()["id"] == first.json()["id"]
    assert ImportJob.all_tenants.count() == 1


class WorkerDied(BaseException):
    """Stands for the worker process being killed: nothing in the import catches it."""


def crowd_rows(count: int) -> str:
    return jsonl(
        *(
            {
                "external_id": f"C-{n}",
                "email": f"reader{n}@example.org",
                "consents": [{"purpose": "newsletter", "action": "grant", "occurred_at": WHEN}],
            }
            for n in range(count)
        )
    )


@override_settings(USER_IMPORT_BATCH_SIZE=2)
def test_an_import_resumes_after_a_crash_without_doing_anything_twice(world, importer, upload, monkeypatch):
    real_grant, calls = writing._consents_write, []

    def grant_then_die(batch, planned):
        calls.append([entry.profile["email"] for entry in planned])
        if len(calls) == 2:
            raise WorkerDied()  # mid-batch: reader2 and reader3 are written, their consents are not
        return real_grant(batch, planned)

    monkeypatch.setattr(writing, "_consents_write", grant_then_die)
    grants_before = Event.all_tenants.filter(type="consent.granted").count()
    with pytest.raises(WorkerDied):
        upload(importer, crowd_rows(7))
    job = ImportJob.all_tenants.get()
    # Batches of two: lines 1-2 are committed; the batch of lines 3-4 died with its worker.
    assert (job.status, job.last_line, job.rows_done, job.attempts) == ("running", 2, 2, 1)
    assert not User.objects.filter(email__in=["reader2@example.org", "reader3@example.org"]).exists()
    monkeypatch.setattr(writing, "_consents_write", real_grant)

    import_job_process.delay(job.pk)  # a redelivered task: the claim still looks alive
    job.refresh_from_db()
    assert (job.status, job.last_line) == ("running", 2)
    ImportJob.all_tenants.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert import_jobs_sweep.delay().get() == 1

    progress = importer.get(f"{IMPORTS}/{job.uuid}").json()
    assert (progress["status"], progress["rows_done"], progress["rows_failed"], progress["last_line"]) == (
        "done",
        7,
        0,
        7,
    )
    assert User.objects.filter(email__startswith="reader").count() == 7
    assert ConsentRecord.all_tenants.filter(channel="import").count() == 7
    assert Event.all_tenants.filter(type="user.created").count() == 7
    assert Event.all_tenants.filter(type="consent.granted").count() == grants_before + 7
    assert import_jobs_sweep.delay().get() == 0  # nothing left to resume


def test_importing_the_same_file_again_changes_nothing(world, importer, upload):
    job_of(importer, upload(importer, crowd_rows(5)))
    counts = (User.objects.count(), ConsentRecord.all_tenants.count(), Event.all_tenants.count())
    again = job_of(importer, upload(importer, crowd_rows(5)))
    assert (again["rows_done"], again["rows_failed"]) == (5, 0)
    assert (User.objects.count(), ConsentRecord.all_tenants.count(), Event.all_tenants.count()) == counts


def test_a_job_that_keeps_dying_is_failed_by_the_sweep(world, importer, upload, monkeypatch):
    monkeypatch.setattr(import_services, "MAX_ATTEMPTS", 1)
    monkeypatch.setattr(import_services, "_rows_apply", lambda **kwargs: (_ for _ in ()).throw(WorkerDied()))
    with pytest.raises(WorkerDied):
        upload(importer, crowd_rows(2))
    ImportJob.all_tenants.update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert import_jobs_sweep.delay().get() == 0
    assert importer.get(f"{IMPORTS}/{ImportJob.all_tenants.get().uuid}").json()["status"] == "failed"
