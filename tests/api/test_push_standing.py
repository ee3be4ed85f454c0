"""How far a tenant's push goes depends on how it stands to the user (docs/decisions/0035):
its own accounts take its word; a user who signed in to it takes its profile changes but
no proven address; anyone else only gets what their profile lacks."""

import pytest
from django.utils import timezone

from accounts.imports import services as import_services
from accounts.imports.models import ImportJob
from accounts.imports.services import import_job_claim, import_job_run
from accounts.models import Membership, User
from accounts.services import membership_link, user_push
from accounts.signin.services import signin_code_account_settle
from tests.conftest import SYSTEM
from tests.test_import_bulk import body_of

PHONE = "+4915100000001"


@pytest.fixture
def alice(world) -> User:
    """Alice proved her address and signed in (at acme); bolt has never dealt with her."""
    User.objects.filter(pk=world.alice.pk).update(email_verified=True, last_login=timezone.now())
    return User.objects.get(pk=world.alice.pk)


@pytest.fixture
def bolt(world, api_as):
    return api_as(world.bolt.backend, ["users:write"])


def push(api, **body):
    response = api.post("/api/v1/users", body, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_a_tenant_adds_no_way_into_someone_elses_account(world, alice, bolt):
    answer = push(bolt, email="alice@example.org", phone_number=PHONE, phone_number_verified=True)
    assert answer["changed"] == []
    alice.refresh_from_db()
    assert (alice.phone_number, alice.phone_number_verified) == (None, False)
    # Whoever holds that phone proves it by code: they get an account of their own.
    opened = signin_code_account_settle(phone=PHONE, tenant=world.bolt.tenant)
    assert opened.pk != alice.pk


def test_not_even_a_tenant_the_user_signed_in_to_adds_an_address_to_their_account(world, alice, bolt):
    membership_link(actor=SYSTEM, user=alice, tenant=world.bolt.tenant, source=Membership.Source.SIGN_IN)
    answer = push(bolt, email="alice@example.org", phone_number=PHONE, phone_number_verified=True, given_name="Alicia")
    assert answer["changed"] == ["given_name"]
    alice.refresh_from_db()
    # It changes her profile (it deals with her first-hand), not what opens her account.
    assert (alice.phone_number, alice.phone_number_verified, alice.given_name) == (None, False, "Alicia")
    conflict = bolt.post("/api/v1/users", {"email": "alice@example.org", "phone_number": PHONE}, format="json")
    assert conflict.status_code == 200  # a missing one is left out, not refused
    User.objects.filter(pk=alice.pk).update(phone_number="+4915100000009")
    replaced = bolt.post("/api/v1/users", {"email": "alice@example.org", "phone_number": PHONE}, format="json")
    assert replaced.status_code == 409  # one she has is never replaced, and bolt, which knows her, is told


def test_a_tenant_the_user_never_met_fills_gaps_and_changes_nothing_else(world, alice, bolt):
    answer = push(bolt, email="alice@example.org", given_name="Mallory", family_name="", birthdate="1990-02-03")
    assert answer["changed"] == ["birthdate"]
    alice.refresh_from_db()
    assert (alice.given_name, alice.family_name, str(alice.birthdate)) == ("Alice", "Archer", "1990-02-03")


def test_the_tenants_own_account_takes_its_word(world, bolt):
    created = push(bolt, email="dora@example.org", given_name="Dora", email_verified=True)
    answer = push(bolt, uuid=created["uuid"], given_name="Dorothea", phone_number=PHONE, phone_number_verified=True)
    assert answer["changed"] == ["given_name", "phone_number", "phone_number_verified"]
    dora = User.objects.get(uuid=created["uuid"])
    assert (dora.given_name, dora.email_verified, dora.phone_number_verified) == ("Dorothea", True, True)


@pytest.mark.parametrize("bulk_path", [True, False])
def test_an_import_keeps_the_same_rules_on_either_path(world, alice, monkeypatch, bulk_path):
    monkeypatch.setattr(import_services, "BULK_PATH", bulk_path)
    bolt_own, _, _ = user_push(actor=SYSTEM, tenant=world.bolt.tenant, profile={"email": "own@example.org"})
    rows = [
        {"email": "alice@example.org", "given_name": "Mallory", "birthdate": "1990-02-03", "email_verified": True},
        {"email": "own@example.org", "given_name": "Owned", "email_verified": True},
    ]
    job = ImportJob.all_tenants.create(
        tenant=world.bolt.tenant, client=world.bolt.backend, actor="t", format="jsonl", body=body_of(rows)
    )
    import_job_run(job_id=job.pk, claim=import_job_claim(job_id=job.pk))
    assert ImportJob.all_tenants.get(pk=job.pk).rows_done == 2
    alice.refresh_from_db()
    assert (alice.given_name, str(alice.birthdate)) == ("Alice", "1990-02-03")
    bolt_own.refresh_from_db()
    assert (bolt_own.given_name, bolt_own.email_verified) == ("Owned", True)
