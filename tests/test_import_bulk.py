"""The import's set-based path (accounts/imports/bulk.py) against the per-row services.

The same upload is imported twice from the same world, once with every row through the
per-row services (the reference) and once with new users on the bulk path; everything a
tenant or the hub could observe must be equal: users, memberships, consent states, proof
records, outbox events, progress and row errors.
"""

import json

import pytest
from django.db import connection, transaction
from django.test import override_settings

from accounts.imports import services as import_services
from accounts.imports.models import ImportJob, ImportRowError
from accounts.imports.services import import_job_claim, import_job_create, import_job_run
from accounts.models import PROFILE_FIELDS, Membership, User
from accounts.services import user_push
from consents.models import Consent, ConsentRecord
from events.models import Event
from harbourmaster.actors import Actor
from tests.conftest import SYSTEM

T1, T2 = "2026-01-15T10:00:00Z", "2026-02-01T09:30:00+01:00"


def grant(purpose: str = "newsletter", when: str = T1, **extra) -> dict:
    return {"purpose": purpose, "action": "grant", "occurred_at": when, **extra}


def withdraw(purpose: str = "newsletter", when: str = T1, **extra) -> dict:
    return {"purpose": purpose, "action": "withdraw", "occurred_at": when, **extra}


def mixed_rows(world) -> list:
    return [
        {"external_id": "N-1", "email": "New.One@Example.org", "given_name": "One", "consents": [grant(version=1)]},
        {"phone_number": "+4930111111", "consents": [grant(source="shop"), withdraw(when=T2)]},
        # A late-arriving older withdrawal: kept as proof, the grant stands.
        {"email": "late@example.org", "consents": [grant(when=T2), withdraw(when=T1)]},
        # An idempotent repeat records once.
        {"email": "twice@example.org", "consents": [grant(), grant(), grant("postal-marketing")]},
        {"uuid": str(world.alice.uuid), "nickname": "Ali", "consents": [grant("postal-marketing")]},
        {"email": "bob@example.org", "given_name": "Robert"},  # unverified, not acme's: refused
        {"email": "dup@example.org", "given_name": "First", "consents": [grant()]},
        {"email": "dup@example.org", "family_name": "Second", "consents": [withdraw(when=T2)]},
        {"email": "not-an-email"},
        {"email": "nopurpose@example.org", "consents": [grant(), grant("no-such")]},
        {"email": "noversion@example.org", "consents": [grant(version=99)]},
        {"email": "future@example.org", "consents": [grant(when="2099-01-01T00:00:00Z")]},
        {"email": "taken-id@example.org", "external_id": "P-1"},  # P-1 is the pushed user's
        {"external_id": "P-1", "email": "carol@example.org"},  # carol is not acme's to name
        {"email": "cookie@example.org", "external_id": "cookie:abcdefgh"},
        {"email": "pushed@example.org", "external_id": "P-1", "given_name": "Pat"},
        {"external_id": "N-17", "email": "last@example.org", "address_country": "DE", "consents": [grant()]},
        '{"email": "broken@example.org",',
        {"uuid": str(world.alice.uuid), "external_id": "P-1"},  # names two users
    ]


def body_of(rows: list) -> str:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows)


class Reference(Exception):
    """Rolls the reference run back once its outcome is taken."""


def imported(world, body: str) -> dict:
    acme = world.acme
    job = import_job_create(
        actor=Actor.client(acme.backend),
        tenant=acme.tenant,
        client=acme.backend,
        format="jsonl",
        body=body,
        rows_total=1,
    )
    import_job_run(job_id=job.pk, claim=import_job_claim(job_id=job.pk))
    return outcome(ImportJob.all_tenants.get(pk=job.pk))


def outcome(job: ImportJob) -> dict:
    def person(user) -> str:
        return user.email or user.phone_number

    people = {str(user.uuid): person(user) for user in User.objects.all()}
    users = User.objects.order_by("pk")
    consents = Consent.all_tenants.select_related("tenant", "user", "purpose", "version")
    records = ConsentRecord.all_tenants.select_related("tenant", "user", "purpose", "version")
    return {
        "job": (job.status, job.rows_done, job.rows_failed, job.last_line),
        "row_errors": list(ImportRowError.objects.filter(job=job).values_list("line", "errors")),
        "users": sorted(
            (person(user), user.kind, user.has_usable_password(), *(getattr(user, name) for name in PROFILE_FIELDS))
            for user in users
        ),
        "memberships": sorted(
            (m.tenant.slug, person(m.user), m.external_id or "", m.source)
            for m in Membership.all_tenants.select_related("tenant", "user")
        ),
        "consents": sorted(
            (c.tenant.slug, person(c.user), c.purpose.slug, c.state, c.version.version, c.granted_at, c.withdrawn_at)
            for c in consents
        ),
        "records": sorted(
            (
                *(r.tenant.slug, person(r.user), r.purpose.slug, r.version.version, r.statement_hash, r.action),
                *(r.channel, r.source, r.client_id or 0, r.actor, r.ip_address or "", r.user_agent, r.occurred_at),
            )
            for r in records
        ),
        "events": sorted(
            (
                event.tenant.slug,
                event.type,
                people.get(event.subject, event.subject),
                json.dumps({**event.payload, "user": people.get(event.payload.get("user"))}, sort_keys=True),
                event.actor,
            )
            for event in Event.all_tenants.select_related("tenant")
        ),
    }


def reference_and_bulk(world, body: str, monkeypatch) -> tuple[dict, dict]:
    monkeypatch.setattr(import_services, "BULK_PATH", False)
    try:
        with transaction.atomic():
            reference = imported(world, body)
            raise Reference()
    except Reference:
        pass
    monkeypatch.setattr(import_services, "BULK_PATH", True)
    return reference, imported(world, body)


@pytest.fixture
def pushed(world):
    """A user acme pushed earlier under its id P-1 (so acme may name it by its e-mail)."""
    user, _, _ = user_push(
        actor=SYSTEM, tenant=world.acme.tenant, external_id="P-1", profile={"email": "pushed@example.org"}
    )
    return user


@pytest.mark.parametrize("batch_size", [1000, 4])
def test_the_bulk_path_ends_as_the_per_row_services_do(world, pushed, monkeypatch, batch_size):
    with override_settings(USER_IMPORT_BATCH_SIZE=batch_size):
        reference, bulk = reference_and_bulk(world, body_of(mixed_rows(world)), monkeypatch)
    for part in reference:
        assert bulk[part] == reference[part], part
    # The comparison is not empty: the upload did every kind of thing.
    assert reference["job"] == ("done", 9, 10, 19)
    assert {line for line, _ in reference["row_errors"]} == {6, 9, 10, 11, 12, 13, 14, 15, 18, 19}
    late = [row for row in reference["consents"] if row[1] == "late@example.org"]
    assert [row[3] for row in late] == ["granted"]


def test_importing_the_same_rows_again_is_the_same_either_way(world, pushed, monkeypatch):
    """Existing users go the per-row path: a second import of the same rows must agree too."""
    body = body_of(mixed_rows(world))
    imported(world, body)
    reference, bulk = reference_and_bulk(world, body, monkeypatch)
    assert bulk == reference


def test_a_mixed_batch_applies_the_good_rows_and_reports_the_rest_by_line(world, pushed):
    rows = mixed_rows(world)
    result = imported(world, body_of(rows))
    errors = dict(result["row_errors"])
    assert errors[6] == [{"path": "/", "message": "email belongs to an account this push cannot update"}]
    assert errors[9] == [{"path": "/email", "message": "Enter a valid email address."}]
    assert errors[10] == [{"path": "/consents/1/purpose", "message": "your tenant has no purpose of this name"}]
    assert errors[11] == [{"path": "/consents/0/version", "message": "purpose newsletter has no statement version 99"}]
    assert errors[12] == [{"path": "/consents/0/occurred_at", "message": "must not be in the future"}]
    assert errors[13] == [{"path": "/", "message": "email cannot be changed by a push; the user changes it"}]
    assert errors[14] == [{"path": "/", "message": "email belongs to an account this push cannot update"}]
    assert errors[19] == [{"path": "/", "message": "the identifiers name different users"}]
    assert errors[15][0]["path"] == "/external_id"
    assert errors[18][0]["message"].startswith("not valid JSON")
    # Nothing of a refused row was written.
    refused = ["nopurpose@example.org", "noversion@example.org", "future@example.org", "taken-id@example.org"]
    assert not User.objects.filter(email__in=refused).exists()
    new = User.objects.get(email="new.one@example.org")
    assert Membership.all_tenants.get(user=new).external_id == "N-1"
    assert Consent.all_tenants.get(user=new).state == "granted"
    # The rows sharing dup@ were applied in line order: one user, the later withdrawal stands.
    dup = User.objects.get(email="dup@example.org")
    assert (dup.given_name, dup.family_name, Consent.all_tenants.get(user=dup).state) == (
        "First",
        "Second",
        "withdrawn",
    )
    late = User.objects.get(email="late@example.org")
    assert Consent.all_tenants.get(user=late).state == "granted"
    assert ConsentRecord.all_tenants.filter(user=late).count() == 2
    twice = User.objects.get(email="twice@example.org")
    assert ConsentRecord.all_tenants.filter(user=twice).count() == 2  # one per purpose
    assert User.objects.get(email="pushed@example.org").given_name == "Pat"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based path needs PostgreSQL")
def test_new_users_take_a_few_statements_per_batch_not_per_row(world, django_assert_max_num_queries):
    rows = [
        {"external_id": f"N-{n}", "email": f"reader{n}@example.org", "consents": [grant(), grant("postal-marketing")]}
        for n in range(300)
    ]
    with django_assert_max_num_queries(40):
        result = imported(world, body_of(rows))
    assert result["job"] == ("done", 300, 0, 300)
    assert Consent.all_tenants.filter(user__email__startswith="reader", state="granted").count() == 600
    assert ConsentRecord.all_tenants.filter(channel="import").count() == 600
    assert Event.all_tenants.filter(type="user.created").count() == 300
    assert Event.all_tenants.filter(type="consent.granted").count() == 600 + 2  # + the world's
