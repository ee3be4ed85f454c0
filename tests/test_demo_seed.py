"""The demo seed: what README.md promises exists after `make run`, and a rerun changes nothing."""

import re
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from accounts.models import Membership, User
from consents.models import Channel, Consent, ConsentRecord, Purpose
from consents.selectors import consent_is_current
from consents.services import consent_withdraw
from events.models import Event
from harbourmaster.actors import Actor
from tenants.config import config_errors
from tenants.models import Client, Tenant
from tests.token_requests import token_status

SECRET_PATTERN = re.compile(r"client secret (hms_\S+)")


def run_seed(*args: str) -> str:
    out = StringIO()
    call_command("demo_seed", *args, stdout=out)
    return out.getvalue()


def snapshot_every_table() -> dict[str, list[dict]]:
    """Every row of every model, through the base manager (no tenant scoping)."""
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values())
        for model in apps.get_models(include_auto_created=True)
    }


@pytest.fixture
def first_output(db) -> str:
    return run_seed()


def test_second_run_writes_nothing(first_output):
    before = snapshot_every_table()
    records, events = ConsentRecord.all_tenants.count(), Event.all_tenants.count()

    second_output = run_seed()

    after = snapshot_every_table()
    assert {label: len(rows) for label, rows in after.items()} == {label: len(rows) for label, rows in before.items()}
    assert after == before  # no row created, changed or deleted, in any table
    assert (ConsentRecord.all_tenants.count(), Event.all_tenants.count()) == (records, events)
    assert "Nothing new: the demo already exists." in second_output


def test_first_run_reports_what_it_created_with_its_records(first_output):
    assert "Created 1 tenant, 2 clients, 2 purposes, 3 users, 4 consents, 1 staff user." in first_output
    demo = Tenant.objects.get(slug="demo")
    assert ConsentRecord.all_tenants.filter(tenant=demo, actor="system:demo_seed").count() == 4
    assert Event.all_tenants.filter(tenant=demo, type="consent.granted").count() == 4
    assert Event.all_tenants.filter(tenant=demo, type="user.created").count() == 3


def test_demo_tenant_has_a_valid_config(first_output):
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.is_active
    assert config_errors(tenant.config) == []
    assert set(tenant.config["allowed_scopes"]) >= {"openid", "profile", "email"}


def test_confidential_client_secret_is_printed_once_and_works(first_output):
    backend = Client.objects.get(tenant__slug="demo", name="Demo backend")
    assert backend.client_type == Client.CLIENT_CONFIDENTIAL
    assert backend.authorization_grant_type == Client.GRANT_CLIENT_CREDENTIALS
    assert backend.allowed_scopes == ["users:read", "users:write", "consents:write", "events:read"]
    assert backend.client_id in first_output
    secret = SECRET_PATTERN.search(first_output).group(1)
    assert token_status(backend, secret) == 200

    second_output = run_seed()

    assert secret not in second_output
    assert SECRET_PATTERN.search(second_output) is None
    assert "client secret exists" in second_output
    assert "demo_seed --rotate-secret" in second_output


def test_rotate_secret_prints_a_new_secret_and_retires_the_old(first_output):
    backend = Client.objects.get(tenant__slug="demo", name="Demo backend")
    old_secret = SECRET_PATTERN.search(first_output).group(1)
    assert token_status(backend, old_secret) == 200  # the client is cached before the rotation

    new_secret = SECRET_PATTERN.search(run_seed("--rotate-secret")).group(1)

    assert new_secret != old_secret
    assert token_status(backend, new_secret) == 200
    assert token_status(backend, old_secret) == 401


def test_public_client_is_a_pkce_app_on_localhost(first_output):
    app = Client.objects.get(tenant__slug="demo", name="Demo app")
    assert app.client_type == Client.CLIENT_PUBLIC
    assert app.authorization_grant_type == Client.GRANT_AUTHORIZATION_CODE
    assert app.redirect_uris == "http://127.0.0.1:8080/callback"
    assert app.allowed_scopes == ["openid", "profile", "email"]
    assert not app.secrets.exists()
    assert app.client_id in first_output


def test_purposes_name_the_data_they_need(first_output):
    purposes = Purpose.all_tenants.filter(tenant__slug="demo")
    assert {purpose.slug: purpose.data_categories for purpose in purposes} == {
        "newsletter": ["email"],
        "postal-marketing": ["address", "profile"],
    }


def test_users_have_profiles_memberships_and_consents(first_output):
    demo = Tenant.objects.get(slug="demo")
    users = {user.email: user for user in User.objects.filter(email__endswith="@demo.example", is_staff=False)}
    assert sorted(users) == [
        "mara.lindqvist@demo.example",
        "priya.raman@demo.example",
        "tomas.ferreira@demo.example",
    ]
    mara = users["mara.lindqvist@demo.example"]
    assert (mara.name, mara.address_locality, mara.address_country) == ("Mara Lindqvist", "Hamburg", "DE")
    assert all(user.address_street and user.address_postal_code for user in users.values())
    assert Membership.all_tenants.filter(tenant=demo, user__in=users.values()).count() == 3
    granted = {
        (consent.user.email, consent.purpose.slug)
        for consent in Consent.all_tenants.filter(tenant=demo).select_related("user", "purpose")
        if consent_is_current(user=consent.user, purpose=consent.purpose)
    }
    assert granted == {
        ("mara.lindqvist@demo.example", "newsletter"),
        ("mara.lindqvist@demo.example", "postal-marketing"),
        ("tomas.ferreira@demo.example", "newsletter"),
        ("priya.raman@demo.example", "postal-marketing"),
    }


def test_staff_signs_in_with_the_documented_password(first_output):
    staff = authenticate(username="staff@demo.example", password="harbourmaster-demo")
    assert staff is not None
    assert staff.is_staff and staff.is_superuser
    assert "http://127.0.0.1:8000/admin/" in first_output
    assert "staff@demo.example with password harbourmaster-demo" in first_output


def test_a_withdrawn_demo_consent_stays_withdrawn(first_output):
    mara = User.objects.get(email="mara.lindqvist@demo.example")
    newsletter = Purpose.all_tenants.get(tenant__slug="demo", slug="newsletter")
    consent_withdraw(actor=Actor.system("tests"), user=mara, purpose=newsletter, channel=Channel.WEB)

    run_seed()

    assert not consent_is_current(user=mara, purpose=newsletter)


@override_settings(PRODUCTION=True)
def test_refuses_to_run_in_production(db):
    with pytest.raises(CommandError, match="refuses to run in production"):
        run_seed()
    assert not Tenant.objects.filter(slug="demo").exists()
    assert not User.objects.filter(email="staff@demo.example").exists()
