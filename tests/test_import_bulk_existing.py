"""Existing users on the import's set-based path, against the per-row services.

A row naming one existing user that no other row of its batch may touch is updated
set-based (accounts/imports/bulk.py, writing.py); everything a tenant or the hub could
observe must be what the per-row services make of the same upload from the same world.
"""

import threading
from datetime import datetime

import pytest
from django.db import connection, connections
from django.test import override_settings

from accounts.imports import services as import_services
from accounts.imports import writing
from accounts.imports.models import ImportJob
from accounts.imports.services import import_job_claim, import_job_run
from accounts.models import Membership, User
from accounts.services import user_push
from consents.models import Channel, Consent, ConsentRecord
from consents.services import consent_grant
from events.models import Event
from harbourmaster.actors import Actor
from tests.conftest import SYSTEM
from tests.test_import_bulk import T1, T2, body_of, grant, imported, reference_and_bulk, withdraw

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based path needs PostgreSQL")


@pytest.fixture
def acme_users(world) -> dict[str, User]:
    """Users acme pushed earlier (P-1 ... P-9), one verified user only bolt knows, and one
    acme knows under an id it now replaces."""
    acme, bolt = world.acme, world.bolt

    def push(tenant, external_id, **profile):
        return user_push(actor=SYSTEM, tenant=tenant, external_id=external_id, profile=profile)[0]

    users = {f"P-{n}": push(acme.tenant, f"P-{n}", email=f"p{n}@example.org", given_name=f"P{n}") for n in range(1, 10)}
    users["verified"] = push(bolt.tenant, "B-1", email="verified@example.org", email_verified=True)
    users["renamed"] = push(acme.tenant, "OLD-1", email="renamed@example.org")
    # P-1 consents to bolt too: bolt hears of its changes.
    consent_grant(actor=SYSTEM, user=users["P-1"], purpose=bolt.newsletter, channel=Channel.WEB)
    consent_grant(
        actor=SYSTEM,
        user=users["P-8"],
        purpose=acme.newsletter,
        channel=Channel.WEB,
        occurred_at=datetime.fromisoformat(T2),
    )
    consent_grant(actor=SYSTEM, user=users["P-9"], purpose=acme.newsletter, channel=Channel.WEB)
    return users


def existing_rows(world, users) -> list:
    return [
        {"external_id": "P-1", "given_name": "Patricia", "consents": [grant(), withdraw(when=T2)]},  # 1
        {"email": "verified@example.org", "family_name": "Vee", "consents": [grant("postal-marketing")]},  # 2
        {"email": "renamed@example.org", "external_id": "NEW-1"},  # 3
        {"external_id": "P-3", "given_name": "Changed", "consents": [grant(version=99)]},  # 4: refused whole
        {"uuid": str(users["P-4"].uuid), "nickname": "First"},  # 5: names P-4 like row 6
        {"external_id": "P-4", "nickname": "Second"},  # 6
        {"external_id": "P-5", "given_name": "A"},  # 7: P-5 twice, by two identifiers
        {"email": "p5@example.org", "family_name": "B"},  # 8
        {"external_id": "P-6", "email": "other@example.org"},  # 9: may not change the e-mail
        {"external_id": "P-7", "phone_number": "+4930999999"},  # 10: a new phone number
        {"email": "bob@example.org", "given_name": "Robert"},  # 11: not acme's to name
        {"external_id": "P-8", "consents": [withdraw(when=T1)]},  # 12: older than the grant
        {"external_id": "P-9", "consents": [grant()]},  # 13: already so
        {"external_id": "P-2", "email": "p2@example.org", "birthdate": "1990-01-31", "address_country": "FR"},  # 14
        {"external_id": "N-1", "email": "new@example.org", "consents": [grant()]},  # 15: new
        {"external_id": "P-2x", "email": "p2@example.org"},  # 16: p2 again: its id becomes P-2x
    ]


@pytest.mark.parametrize(
    ("batch_size", "settled_per_row"),
    # Row 2 grants consent to a user acme never dealt with: the grant waits for the user's
    # word (decision 35), which the per-row path asks for. By 3, p2's rows are apart.
    [(1000, {2, 5, 6, 7, 8, 9, 10, 11, 14, 16}), (3, {2, 5, 6, 7, 8, 9, 10, 11})],
)
def test_existing_users_end_as_the_per_row_services_leave_them(
    world, acme_users, monkeypatch, batch_size, settled_per_row
):
    per_row_lines = []
    real = import_services._row_apply_settled

    def spy(*, job, row, data, purposes):
        if import_services.BULK_PATH:
            per_row_lines.append(row.line)
        return real(job=job, row=row, data=data, purposes=purposes)

    monkeypatch.setattr(import_services, "_row_apply_settled", spy)
    with override_settings(USER_IMPORT_BATCH_SIZE=batch_size):
        reference, bulk = reference_and_bulk(world, body_of(existing_rows(world, acme_users)), monkeypatch)
    for part in reference:
        assert bulk[part] == reference[part], part
    assert reference["job"] == ("done", 13, 3, 16)
    assert {line for line, _ in reference["row_errors"]} == {4, 9, 11}
    # Rows naming one user no other row touches were settled set-based; the rest per row.
    assert set(per_row_lines) == settled_per_row


def test_existing_user_updates_are_told_to_every_related_tenant(world, acme_users):
    imported(world, body_of([{"external_id": "P-1", "given_name": "Patricia"}]))
    user = User.objects.get(pk=acme_users["P-1"].pk)
    assert user.given_name == "Patricia"
    told = Event.all_tenants.filter(type="user.updated", subject=str(user.uuid))
    assert sorted(told.values_list("tenant__slug", "payload")) == [
        ("acme", {"user": str(user.uuid), "changed": ["given_name"]}),
        ("bolt", {"user": str(user.uuid), "changed": ["given_name"]}),
    ]


def test_an_existing_users_refused_consent_leaves_the_user_unchanged(world, acme_users):
    result = imported(world, body_of([{"external_id": "P-3", "given_name": "Changed", "consents": [grant(version=9)]}]))
    assert result["row_errors"] == [
        (1, [{"path": "/consents/0/version", "message": "purpose newsletter has no statement version 9"}])
    ]
    assert User.objects.get(pk=acme_users["P-3"].pk).given_name == "P3"
    assert not Event.all_tenants.filter(type="user.updated").exists()


def test_a_verified_user_named_by_email_joins_the_tenant(world, acme_users):
    imported(world, body_of([{"email": "Verified@Example.org", "external_id": "A-9", "consents": [grant()]}]))
    user = acme_users["verified"]
    membership = Membership.all_tenants.get(tenant=world.acme.tenant, user=user)
    assert (membership.external_id, membership.source) == ("A-9", "api")
    # Bolt brought the user: acme's word waits for the user's confirmation (decision 35).
    assert Consent.all_tenants.get(user=user, purpose=world.acme.newsletter).state == "pending"
    assert User.objects.filter(email="verified@example.org").count() == 1


def test_existing_users_take_a_few_statements_per_batch_not_per_row(world, acme_users, django_assert_max_num_queries):
    rows = [
        {"external_id": f"P-{n}", "nickname": f"N{n}", "consents": [grant("postal-marketing")]} for n in range(1, 10)
    ]
    with django_assert_max_num_queries(40):
        result = imported(world, body_of(rows))
    assert result["job"] == ("done", 9, 0, 9)
    assert Consent.all_tenants.filter(purpose=world.acme.postal, state="granted").count() == 9
    assert Event.all_tenants.filter(type="user.updated").count() == 9 + 1  # P-1 is bolt's too


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_naming_the_same_users_end_in_one_user_each(world):
    rows = [
        {"external_id": f"S-{n}", "email": f"same{n}@example.org", "given_name": f"S{n}", "consents": [grant()]}
        for n in range(60)
    ]
    acme = world.acme
    jobs = [
        ImportJob.all_tenants.create(
            tenant=acme.tenant,
            client=acme.backend,
            actor=str(Actor.client(acme.backend)),
            format="jsonl",
            body=body_of(rows if index == 0 else rows[::-1]),
            rows_total=len(rows),
        )
        for index in range(2)
    ]
    errors = []

    def run(job):
        try:
            import_job_run(job_id=job.pk, claim=import_job_claim(job_id=job.pk))
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    with override_settings(USER_IMPORT_BATCH_SIZE=20):
        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not errors
    assert [(job.status, job.rows_done, job.rows_failed) for job in ImportJob.all_tenants.order_by("pk")] == [
        ("done", 60, 0),
        ("done", 60, 0),
    ]
    assert User.objects.filter(email__startswith="same").count() == 60
    assert Membership.all_tenants.filter(tenant=acme.tenant, external_id__startswith="S-").count() == 60
    assert Event.all_tenants.filter(type="user.created").count() == 60
    assert ConsentRecord.all_tenants.filter(channel="import").count() == 60  # the second grant is a repeat
    assert connection.vendor == "postgresql"


class WorkerDied(Exception):
    pass


def test_a_batch_of_existing_users_that_dies_midway_is_redone_whole(world, acme_users, monkeypatch):
    rows = [
        {"external_id": f"P-{n}", "nickname": f"N{n}", "consents": [grant("postal-marketing")]} for n in range(1, 10)
    ]
    acme = world.acme
    job = ImportJob.all_tenants.create(
        tenant=acme.tenant,
        client=acme.backend,
        actor=str(Actor.client(acme.backend)),
        format="jsonl",
        body=body_of(rows),
        rows_total=9,
    )
    real = writing._consents_write

    def die_in_second_batch(batch, planned):
        if planned[0].external_id == "P-5":
            raise WorkerDied()  # the profiles of P-5 ... P-8 are updated, their consents are not
        return real(batch, planned)

    monkeypatch.setattr(writing, "_consents_write", die_in_second_batch)
    with override_settings(USER_IMPORT_BATCH_SIZE=4), pytest.raises(WorkerDied):
        import_job_run(job_id=job.pk, claim=import_job_claim(job_id=job.pk))
    job.refresh_from_db()
    assert (job.last_line, job.rows_done) == (4, 4)
    assert User.objects.get(pk=acme_users["P-5"].pk).nickname == ""  # rolled back with its batch
    assert Event.all_tenants.filter(type="user.updated").count() == 4 + 1  # P-1 is bolt's too

    monkeypatch.setattr(writing, "_consents_write", real)
    ImportJob.all_tenants.filter(pk=job.pk).update(status="queued", claim=None)
    with override_settings(USER_IMPORT_BATCH_SIZE=4):
        import_job_run(job_id=job.pk, claim=import_job_claim(job_id=job.pk))
    job.refresh_from_db()
    assert (job.status, job.last_line, job.rows_done, job.rows_failed) == ("done", 9, 9, 0)
    assert sorted(User.objects.filter(nickname__startswith="N").values_list("nickname", flat=True)) == [
        f"N{n}" for n in range(1, 10)
    ]
    assert Event.all_tenants.filter(type="user.updated").count() == 9 + 1
    assert ConsentRecord.all_tenants.filter(purpose=acme.postal, channel="import").count() == 9


@override_settings(USER_IMPORT_BATCH_SIZE=1)
def test_a_later_batch_does_not_apply_an_earlier_batchs_changes_again(world, acme_users, monkeypatch):
    """Inside an outer transaction no batch commits: each batch writes only its own users."""
    rows = [
        {"external_id": "P-1", "given_name": "First"},  # set-based
        {"uuid": str(acme_users["P-1"].uuid), "given_name": "Second"},  # per row
        {"external_id": "P-2", "given_name": "Other"},  # set-based again
    ]
    reference, bulk = reference_and_bulk(world, body_of(rows), monkeypatch)
    assert bulk == reference
    assert User.objects.get(pk=acme_users["P-1"].pk).given_name == "Second"


def test_rows_naming_users_by_uuid_end_as_the_per_row_services_leave_them(world, acme_users, monkeypatch):
    per_row_lines = []
    real = import_services._row_apply_settled

    def spy(*, job, row, data, purposes):
        if import_services.BULK_PATH:
            per_row_lines.append(row.line)
        return real(job=job, row=row, data=data, purposes=purposes)

    monkeypatch.setattr(import_services, "_row_apply_settled", spy)
    rows = [
        {"uuid": str(acme_users["P-3"].uuid), "given_name": "ByUuid", "consents": [grant("postal-marketing")]},
        {"uuid": str(world.carol.uuid), "given_name": "Caroline"},  # not acme's: refused
        {"uuid": str(acme_users["P-6"].uuid), "external_id": "P-6", "nickname": "Six"},  # the same user twice
        {"uuid": str(acme_users["P-7"].uuid), "external_id": "P-8"},  # two users: refused
        {"uuid": str(world.alice.uuid), "given_name": "Alicia"},  # acme knows her by her consent, no more
    ]
    reference, bulk = reference_and_bulk(world, body_of(rows), monkeypatch)
    assert bulk == reference
    assert reference["row_errors"] == [
        (2, [{"path": "/uuid", "message": "your tenant knows no user with this uuid"}]),
        (4, [{"path": "/", "message": "the identifiers name different users"}]),
    ]
    assert set(per_row_lines) == {2, 4}
    alice = User.objects.get(pk=world.alice.pk)
    assert alice.given_name == "Alice"  # she never signed in to acme: its push fills gaps only (decision 35)
    assert Membership.all_tenants.get(tenant=world.acme.tenant, user=alice).source == "api"
