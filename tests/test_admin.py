"""The Django admin, as the staff who run the hub see it."""

import re
import secrets
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP
from allauth.socialaccount.models import SocialAccount, SocialApp
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

from accounts.models import Membership, User
from accounts.services import membership_link
from audit.models import AccessRecord, AccessRecordSubject, AccessRecordSubjectBlock
from audit.services import access_record
from consents.models import Consent, ConsentRecord, Purpose, PurposeVersion
from consents.services import consent_grant
from events.models import Event
from harbourmaster.admin import LargeTablePaginator
from tenants.credentials import secret_hash
from tenants.keys import signing_key_current
from tenants.models import Client, ClientSecret, SigningKey, Tenant, TenantConfigRevision
from tenants.services import tenant_config_update
from tests.token_requests import token_status

from .conftest import SYSTEM

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
APPEND_ONLY = [ConsentRecord, AccessRecord, AccessRecordSubject, Event, TenantConfigRevision, PurposeVersion]
SECRET_PATTERN = re.compile(r"hms_[A-Za-z0-9_-]{43}")
TOKENS = {
    "access": "at-" + "a" * 40,
    "refresh": "rt-" + "r" * 40,
    "code": "code-" + "c" * 40,
    "social": "provider-secret-" + "s" * 24,
    "totp": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
}


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def staff(client, world):
    client.force_login(world.staff)
    return client


@pytest.fixture
def every_row(world):
    """At least one row of every model the admin shows, beyond the standing world."""
    membership_link(actor=SYSTEM, user=world.alice, tenant=world.acme.tenant, source="api", external_id="A-1")
    record = access_record(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["email"],
        user_ids=[world.alice.pk],
        request_id="req-123",
    )
    AccessRecordSubjectBlock.all_tenants.create(record=record, user_ids=[world.alice.pk])
    Group.objects.create(name="support")
    EmailAddress.objects.create(user=world.alice, email=world.alice.email, primary=True, verified=True)
    expires = timezone.now() + timedelta(hours=1)
    app, alice = world.acme.app, world.alice
    access = AccessToken.objects.create(user=alice, application=app, token=TOKENS["access"], expires=expires)
    RefreshToken.objects.create(user=alice, application=app, token=TOKENS["refresh"], access_token=access)
    Grant.objects.create(
        user=alice, application=app, code=TOKENS["code"], expires=expires, redirect_uri="https://app.acme.example/cb"
    )
    IDToken.objects.create(user=alice, application=app, expires=expires)
    signing_key_current()
    SocialApp.objects.create(provider="google", name="Google", client_id="g-1", secret=TOKENS["social"])
    SocialAccount.objects.create(user=alice, provider="google", uid="1234567890")
    TOTP.activate(alice, TOKENS["totp"])
    return world


def first_row(model):
    row = model._default_manager.order_by("pk").first()
    assert row is not None, f"add a {model._meta.label} row to the every_row fixture"
    return row


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_admin_page_renders_for_staff(staff, every_row, model):
    row = first_row(model)

    changelist = staff.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert staff.get(url(model, "changelist"), {"q": "alice@example.org"}).status_code == 200
    change = staff.get(url(model, "change", row.pk))
    assert change.status_code == 200
    for token in TOKENS.values():
        assert token not in changelist.content.decode() + change.content.decode()
    if admin.site._registry[model].has_add_permission(change.wsgi_request):
        assert staff.get(url(model, "add")).status_code == 200


def test_every_admin_page_sends_a_signed_in_non_staff_user_to_the_login(client, every_row):
    client.force_login(every_row.alice)
    pages = [
        reverse("admin:index"),
        url(Client, "rotate_secret", every_row.acme.backend.pk),
        reverse("admin:auth_user_password_change", args=[every_row.bob.pk]),
    ]
    for model in REGISTERED:
        pages += [url(model, "changelist"), url(model, "add"), url(model, "change", first_row(model).pk)]

    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(reverse("admin:login")), page


@pytest.mark.parametrize("model", APPEND_ONLY, ids=lambda model: model._meta.label)
def test_append_only_records_cannot_be_added_changed_or_deleted(staff, every_row, model, rf):
    row = first_row(model)
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = every_row.staff

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert "delete_selected" not in model_admin.get_actions(request)
    assert staff.get(url(model, "add")).status_code == 403
    assert staff.post(url(model, "change", row.pk), {}).status_code == 403
    assert staff.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    view = staff.get(url(model, "change", row.pk))
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert model._default_manager.filter(pk=row.pk).exists()


def test_no_admin_offers_a_select_of_users_tenants_clients_or_purposes():
    big = {User, Tenant, Client, Purpose}
    ours = {"tenants", "accounts", "consents", "audit", "events"}
    admins = [(model, model_admin, None) for model, model_admin in admin.site._registry.items()]
    # An inline's link to its parent is a hidden field, never a select.
    admins += [
        (inline.model, inline, parent) for parent, model_admin, _ in list(admins) for inline in model_admin.inlines
    ]
    for model, model_admin, parent in admins:
        if model._meta.app_label not in ours:
            continue
        for field in model._meta.fields:
            if isinstance(field, models.ForeignKey) and field.related_model in big - {parent}:
                assert field.name in model_admin.raw_id_fields, f"{model_admin}: {field.name}"


# --- Clients and their secrets ---------------------------------------------------------------


def client_form(world, **fields):
    return {
        "name": "Acme warehouse",
        "tenant": world.acme.tenant.pk,
        "client_type": Client.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": Client.GRANT_CLIENT_CREDENTIALS,
        "allowed_scopes": ["users:read"],
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "submission": secrets.token_urlsafe(16),
        **fields,
    }


def test_creating_a_client_shows_its_secret_once_and_stores_only_its_hash(staff, world):
    data = client_form(world)
    response = staff.post(url(Client, "add"), data)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [secret] = SECRET_PATTERN.findall(response.content.decode())
    client = Client.objects.get(name="Acme warehouse")
    [stored] = ClientSecret.all_tenants.filter(client=client)
    assert stored.secret_hash == secret_hash(secret) and secret.startswith(stored.prefix)
    assert client.client_secret == ""
    assert token_status(client, secret) == 200
    assert secret not in str(response.cookies) and secret not in str(dict(staff.session))
    change = staff.get(url(Client, "change", client.pk)).content.decode()
    assert secret not in change and stored.masked in change and 'name="client_secret"' not in change
    again = staff.post(url(Client, "add"), data, follow=True)
    assert secret not in again.content.decode() and not SECRET_PATTERN.search(again.content.decode())
    assert "already submitted" in again.content.decode()
    assert Client.objects.filter(name="Acme warehouse").count() == 1


def test_client_add_form_shows_what_the_service_refuses(staff, world):
    data = client_form(world, client_type=Client.CLIENT_PUBLIC, redirect_uris="https://app.acme.example/cb")

    response = staff.post(url(Client, "add"), data)

    assert response.status_code == 200
    assert "a public client may use authorization-code" in response.content.decode()
    assert not Client.objects.filter(name="Acme warehouse").exists()


def run_action(staff, model, action: str, objects, **form):
    """Choose the action on the changelist, then submit its confirmation page (if it has one)."""
    selected = [obj.pk for obj in objects]
    chosen = {"action": action, "_selected_action": selected, "index": "0", "select_across": "0"}
    response = staff.post(url(model, "changelist"), chosen)
    if not form:
        return response
    assert response.status_code == 200 and response.context["form"] is not None
    submission = (
        response.context["form"]["submission"].value() if "submission" in response.context["form"].fields else ""
    )
    apply = {"action": action, "_selected_action": selected, "select_across": "0", "apply": "1", **form}
    return staff.post(url(model, "changelist"), {"submission": submission, **apply})


def test_rotating_a_secret_keeps_the_old_one_working_until_the_overlap_ends(staff, world):
    backend, old = world.acme.backend, world.acme.backend_secret
    assert token_status(backend, old) == 200  # the client is cached before the rotation

    response = run_action(staff, Client, "rotate_secret", [backend], overlap_hours="24")

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    [new] = SECRET_PATTERN.findall(response.content.decode())
    assert token_status(backend, new) == 200
    assert token_status(backend, old) == 200
    previous = ClientSecret.all_tenants.get(secret_hash=secret_hash(old))
    assert abs(previous.expires_at - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
    assert new not in staff.get(url(Client, "change", backend.pk)).content.decode()


def test_rotating_with_no_overlap_ends_the_old_secret_at_once(staff, world):
    backend, old = world.bolt.backend, world.bolt.backend_secret
    assert token_status(backend, old) == 200  # the client is cached before the rotation

    assert url(Client, "rotate_secret", backend.pk) in staff.get(url(Client, "change", backend.pk)).content.decode()
    response = staff.get(url(Client, "rotate_secret", backend.pk))
    submission = response.context["form"]["submission"].value()
    response = staff.post(
        url(Client, "rotate_secret", backend.pk), {"overlap_hours": "0", "apply": "1", "submission": submission}
    )

    [new] = SECRET_PATTERN.findall(response.content.decode())
    assert token_status(backend, new) == 200
    assert token_status(backend, old) == 401


def test_disable_action_disables_the_client_and_enable_brings_it_back(staff, world):
    backend, secret = world.acme.backend, world.acme.backend_secret
    assert token_status(backend, secret) == 200  # the client is cached while enabled

    run_action(staff, Client, "disable", [backend])
    backend.refresh_from_db()
    assert backend.is_disabled and token_status(backend, secret) == 401
    assert world.bolt.backend.__class__.objects.get(pk=world.bolt.backend.pk).disabled_at is None

    run_action(staff, Client, "enable", [backend])
    backend.refresh_from_db()
    assert not backend.is_disabled and token_status(backend, secret) == 200


def test_client_edits_go_through_the_service(staff, world):
    app = world.acme.app
    page = staff.get(url(Client, "change", app.pk))
    uris = "https://app.acme.example/callback\nhttps://app.acme.example/other"

    staff.post(url(Client, "change", app.pk), resubmit(page, redirect_uris=uris, allowed_scopes=["openid", "address"]))

    app.refresh_from_db()
    assert app.redirect_uris == "https://app.acme.example/callback https://app.acme.example/other"
    assert app.allowed_scopes == ["openid", "address"]


# --- Tenants ----------------------------------------------------------------------------------


def resubmit(response, **changes) -> dict:
    """The change form as a browser would post it back, with ``changes`` typed in (None unticks)."""
    page_forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        page_forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in page_forms:
        for field in form:
            value = field.value()
            if isinstance(field.field, forms.BooleanField):
                if value:
                    data[field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[field.html_name] = [str(item) for item in value]
            elif value is not None:
                data[field.html_name] = str(value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_a_bad_tenant_config_shows_each_path_and_reason_and_changes_nothing(staff, world):
    tenant = world.acme.tenant
    page = staff.get(url(Tenant, "change", tenant.pk))
    bad = '{"otp": {"length": 2}, "subject_type": "secret"}'

    response = staff.post(url(Tenant, "change", tenant.pk), resubmit(page, config=bad, name="Renamed"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "/otp/length: 2 is less than the minimum of 4" in content
    assert "/subject_type: &#x27;secret&#x27; is not one of" in content
    tenant_before = tenant
    tenant.refresh_from_db()
    assert (tenant.name, tenant.config, tenant.config_version) == ("Acme", tenant_before.config, 1)
    assert TenantConfigRevision.objects.filter(tenant=tenant).count() == 1


def test_a_good_tenant_config_is_saved_as_a_new_revision_by_the_staff_member(staff, world):
    tenant = world.acme.tenant
    page = staff.get(url(Tenant, "change", tenant.pk))

    staff.post(url(Tenant, "change", tenant.pk), resubmit(page, config='{"otp": {"length": 8}}', name="Acme News"))

    tenant.refresh_from_db()
    assert (tenant.name, tenant.config, tenant.config_version) == ("Acme News", {"otp": {"length": 8}}, 2)
    revision = TenantConfigRevision.objects.get(tenant=tenant, version=2)
    assert revision.actor == f"staff:{world.staff.uuid}"


def test_a_stale_concurrent_config_edit_is_refused(staff, world):
    tenant = world.acme.tenant
    page = staff.get(url(Tenant, "change", tenant.pk))
    tenant_config_update(actor=SYSTEM, tenant=tenant, config={"subject_type": "pairwise"}, expected_version=1)

    response = staff.post(url(Tenant, "change", tenant.pk), resubmit(page, config='{"otp": {"length": 8}}'))

    assert response.status_code == 200
    assert "you edited version 1, it is now at version 2" in response.content.decode()
    tenant.refresh_from_db()
    assert (tenant.config, tenant.config_version) == ({"subject_type": "pairwise"}, 2)


def test_new_tenants_are_made_by_the_service_with_their_first_revision(staff, world):
    data = {"slug": "crane", "name": "Crane", "contact_email": "ops@crane.example", "config": '{"locales": ["de"]}'}

    staff.post(url(Tenant, "add"), data)

    tenant = Tenant.objects.get(slug="crane")
    assert tenant.config == {"locales": ["de"]}
    assert TenantConfigRevision.objects.filter(tenant=tenant, version=1).exists()


def test_suspend_action_suspends_only_the_selected_tenant(staff, world):
    run_action(staff, Tenant, "suspend", [world.bolt.tenant])

    assert Tenant.objects.get(pk=world.bolt.tenant.pk).status == Tenant.Status.SUSPENDED
    assert Tenant.objects.get(pk=world.acme.tenant.pk).status == Tenant.Status.ACTIVE


# --- Users, consents, audit -----------------------------------------------------------------


def test_a_profile_edit_tells_the_tenants_that_know_the_user(staff, world):
    alice = world.alice
    page = staff.get(url(User, "change", alice.pk))

    response = staff.post(url(User, "change", alice.pk), resubmit(page, family_name="Archer-Smith"))

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.family_name == "Archer-Smith"
    events = Event.all_tenants.filter(type="user.updated", subject=str(alice.uuid))
    assert [(event.tenant, event.payload["changed"]) for event in events] == [(world.acme.tenant, ["family_name"])]
    assert events.get().actor == f"staff:{world.staff.uuid}"


def test_user_search_finds_by_exact_email_uuid_or_family_name_prefix(staff, world):
    def found(term):
        response = staff.get(url(User, "changelist"), {"q": term})
        return {user.email for user in response.context["cl"].result_list}

    assert found("ALICE@example.org") == {"alice@example.org"}
    assert found(str(world.bob.uuid)) == {"bob@example.org"}
    assert found("coo") == {"carol@example.org"}
    assert found("example.org") == set()


def test_staff_create_a_user_through_the_service_and_its_tenant_hears_of_it(staff, world):
    data = {
        "email": "Dora@Example.org",
        "given_name": "Dora",
        "tenant": world.bolt.tenant.pk,
        "usable_password": "false",
    }

    response = staff.post(url(User, "add"), data)

    dora = User.objects.get(email="dora@example.org")
    assert response.status_code == 302 and not dora.has_usable_password()
    assert Membership.all_tenants.get(user=dora).source == Membership.Source.ADMIN
    assert Event.all_tenants.filter(type="user.created", tenant=world.bolt.tenant, subject=str(dora.uuid)).exists()


def test_a_refusal_by_the_service_saves_nothing_and_says_why(staff, every_row):
    taken = membership_link(
        actor=SYSTEM, user=every_row.bob, tenant=every_row.acme.tenant, source="api", external_id="B-1"
    )
    alice_at_acme = Membership.all_tenants.get(user=every_row.alice, tenant=every_row.acme.tenant)
    page = staff.get(url(Membership, "change", alice_at_acme.pk))

    response = staff.post(url(Membership, "change", alice_at_acme.pk), resubmit(page, external_id="B-1"), follow=True)

    assert "Nothing was saved" in response.content.decode()
    alice_at_acme.refresh_from_db()
    assert (alice_at_acme.external_id, taken.external_id) == ("A-1", "B-1")


def test_withdraw_action_records_the_withdrawal_as_made_by_staff(staff, world):
    consent = Consent.all_tenants.get(user=world.alice, purpose=world.acme.newsletter)

    run_action(staff, Consent, "withdraw", [consent], source="ticket 42")

    consent.refresh_from_db()
    assert consent.state == Consent.State.WITHDRAWN
    record = ConsentRecord.all_tenants.filter(user=world.alice).latest("id")
    assert (record.action, record.channel, record.source) == ("withdraw", "admin", "ticket 42")
    assert Event.all_tenants.filter(type="consent.withdrawn", tenant=world.acme.tenant).exists()


def test_withdraw_action_ends_a_consent_still_waiting_for_its_user(staff, world):
    waiting = consent_grant(
        actor=SYSTEM, user=world.carol, purpose=world.bolt.postal, channel="api", awaiting_confirmation=True
    )
    assert waiting.state == Consent.State.PENDING
    run_action(staff, Consent, "withdraw", [waiting], source="ticket 43")
    waiting.refresh_from_db()
    assert waiting.state == Consent.State.WITHDRAWN


def test_purposes_are_created_published_and_retired_through_services(staff, world):
    data = {
        "tenant": world.bolt.tenant.pk,
        "slug": "loyalty",
        "name": "Loyalty",
        "legal_basis": "consent",
        "data_categories": ["email"],
        "statement": "Bolt may email me loyalty offers.",
    }
    staff.post(url(Purpose, "add"), data)
    purpose = Purpose.all_tenants.get(slug="loyalty")
    page = staff.get(url(Purpose, "change", purpose.pk))

    staff.post(
        url(Purpose, "change", purpose.pk), resubmit(page, new_statement="Now also by SMS.", requires_reconsent="on")
    )
    run_action(staff, Purpose, "retire", [purpose])

    purpose.refresh_from_db()
    assert (purpose.current_version, purpose.reconsent_from_version, purpose.status) == (2, 2, "retired")
    assert list(PurposeVersion.objects.filter(purpose=purpose).values_list("version", flat=True)) == [2, 1]


def test_who_saw_my_data_lists_only_that_users_reads(staff, every_row):
    access_record(
        tenant=every_row.bolt.tenant,
        client=every_row.bolt.backend,
        purpose="postal-marketing",
        action="users.lookup",
        fields=["address"],
        user_ids=[every_row.bob.pk],
    )
    user_page = staff.get(url(User, "change", every_row.alice.pk)).content.decode()
    assert f"{url(AccessRecordSubject, 'changelist')}?user={every_row.alice.pk}" in user_page

    response = staff.get(url(AccessRecordSubject, "changelist"), {"user": every_row.alice.pk})

    assert [subject.user for subject in response.context["cl"].result_list] == [every_row.alice]


# --- Lists that stay fast -----------------------------------------------------------------------


def user_count_queries(queries) -> list[str]:
    return [query["sql"] for query in queries if "COUNT(" in query["sql"] and "accounts_user" in query["sql"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner estimate is PostgreSQL's")
def test_unfiltered_user_list_on_postgresql_counts_nothing(staff, world, monkeypatch):
    # The standing world is small; pretend it is past the size where counting starts to hurt.
    monkeypatch.setattr(LargeTablePaginator, "estimate_from", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(url(User, "changelist"))

    assert response.status_code == 200
    assert user_count_queries(queries) == []
    assert f"about {User.objects.count()}" in response.content.decode()


@pytest.mark.parametrize("filters", [{}, {"is_staff__exact": "0"}], ids=["unfiltered", "filtered"])
def test_user_list_counts_at_most_the_cap(staff, world, monkeypatch, filters):
    monkeypatch.setattr(LargeTablePaginator, "count_limit", 2)

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(url(User, "changelist"), filters)

    assert "more than 2" in response.content.decode()
    counts = user_count_queries(queries)
    assert counts and all("LIMIT 3" in sql for sql in counts)


def test_signing_keys_are_shown_without_their_private_key_and_rotate_through_the_service(staff, every_row):
    key = signing_key_current()
    page = staff.get(url(SigningKey, "change", key.pk))
    assert page.status_code == 200 and key.kid in page.content.decode()
    assert "PRIVATE KEY" not in page.content.decode()
    assert "PRIVATE KEY" not in staff.get(url(SigningKey, "changelist")).content.decode()
    response = staff.post(
        url(SigningKey, "changelist"), {"action": "rotate", "_selected_action": [key.pk]}, follow=True
    )
    assert response.status_code == 200
    assert SigningKey.objects.count() == 2
    assert SigningKey.objects.exclude(pk=key.pk).get().activated_at > timezone.now()
