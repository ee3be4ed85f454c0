"""The admin as staff with only some permissions see it: viewing is not changing, the audit is
behind its own permission, and only superusers hand out staff and superuser rights."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialApp
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from accounts.models import User
from audit.models import AccessRecord, AccessRecordSubject, AccessRecordSubjectBlock
from audit.services import access_record, access_record_for_query
from events.models import Event
from tests import test_admin
from tests.test_admin import resubmit, url

PROVIDER_SECRET = "provider-secret-" + "s" * 24
ACCESS_TOKEN = "at-" + "a" * 40
PASSWORD = "correct horse battery staple"

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="streams are recorded as blocks on PostgreSQL only"
)


def limited_staff(*codenames: str, email: str = "limited-staff@harbourmaster.example") -> User:
    """A staff member (not a superuser) holding only these permissions."""
    member = User.objects.create_user(email, PASSWORD)
    member.is_staff = True
    member.save()
    for codename in codenames:
        app_label, name = codename.split(".")
        member.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    return member


def signed_in(member: User) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(member)
    return browser


def staff_with(*codenames: str, email: str = "limited-staff@harbourmaster.example") -> BrowserClient:
    return signed_in(limited_staff(*codenames, email=email))


staff = test_admin.staff  # the standing world's superuser, signed in


def machine_token(world) -> tuple[AccessToken, dict]:
    backend = world.acme.backend
    issued = BrowserClient().post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": backend.client_id,
            "client_secret": world.acme.backend_secret,
        },
    )
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issued.json()['access_token']}"}
    return AccessToken.objects.get(application=backend), bearer


def sign_in_tokens(world) -> tuple[AccessToken, RefreshToken]:
    access = AccessToken.objects.create(
        user=world.alice, application=world.acme.app, token=ACCESS_TOKEN, expires=timezone.now() + timedelta(hours=1)
    )
    refresh = RefreshToken.objects.create(
        user=world.alice, application=world.acme.app, token="rt-" + "r" * 40, access_token=access
    )
    return access, refresh


def action(model, name: str, *rows) -> tuple[str, dict]:
    return url(model, "changelist"), {"action": name, ACTION_CHECKBOX_NAME: [row.pk for row in rows]}


# --- Social apps ---------------------------------------------------------------------------


def test_staff_who_may_only_view_social_apps_do_not_see_the_provider_secret(world):
    app = SocialApp.objects.create(provider="google", name="Google", client_id="g-1", secret=PROVIDER_SECRET)
    viewer = staff_with("socialaccount.view_socialapp")

    page = viewer.get(url(SocialApp, "change", app.pk))

    assert page.status_code == 200
    assert "g-1" in page.content.decode()  # the page is there...
    assert PROVIDER_SECRET not in page.content.decode()  # ...without the secret


# --- Access and refresh tokens -------------------------------------------------------------


def test_a_machine_token_cannot_be_edited_in_the_admin_only_revoked(staff, world):
    """An edited expiry or scope would outlive the token's cache entry (decision 13)."""
    token, bearer = machine_token(world)
    read = f"/api/v1/users/{world.alice.uuid}?purpose=newsletter"
    assert BrowserClient().get(read, **bearer).status_code == 200  # cached now
    page = staff.get(url(AccessToken, "change", token.pk))
    assert page.status_code == 200
    assert 'name="expires_0"' not in page.content.decode()  # no date to type in
    past = timezone.localtime(timezone.now() - timedelta(hours=1))

    refused = staff.post(
        url(AccessToken, "change", token.pk),
        {"expires_0": past.strftime("%Y-%m-%d"), "expires_1": past.strftime("%H:%M:%S"), "scope": "everything"},
    )

    assert refused.status_code == 403
    stored = AccessToken.objects.get(pk=token.pk)
    assert (stored.expires, stored.scope) == (token.expires, token.scope)
    staff.post(*action(AccessToken, "revoke_tokens", token))
    assert BrowserClient().get(read, **bearer).status_code == 401


def test_staff_who_may_only_view_access_tokens_cannot_revoke_them(world):
    token, refresh = sign_in_tokens(world)
    viewer = staff_with("oauth2_provider.view_accesstoken")
    assert viewer.get(url(AccessToken, "changelist")).status_code == 200

    viewer.post(*action(AccessToken, "revoke_tokens", token))

    token.refresh_from_db()
    assert token.is_valid()
    # Staff who may change them still can.
    editor = staff_with(
        "oauth2_provider.view_accesstoken", "oauth2_provider.change_accesstoken", email="editor@harbourmaster.example"
    )
    editor.post(*action(AccessToken, "revoke_tokens", token))
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    refresh.refresh_from_db()
    assert refresh.revoked is not None


def test_staff_who_may_only_view_refresh_tokens_cannot_revoke_them(world):
    access, refresh = sign_in_tokens(world)
    viewer = staff_with("oauth2_provider.view_refreshtoken")
    assert viewer.get(url(RefreshToken, "changelist")).status_code == 200

    viewer.post(*action(RefreshToken, "revoke_tokens", refresh))

    refresh.refresh_from_db()
    assert refresh.revoked is None
    assert AccessToken.objects.filter(pk=access.pk).exists()
    # Staff who may change them still revoke one, with its access token.
    editor = staff_with(
        "oauth2_provider.view_refreshtoken", "oauth2_provider.change_refreshtoken", email="editor@harbourmaster.example"
    )
    editor.post(*action(RefreshToken, "revoke_tokens", refresh))
    refresh.refresh_from_db()
    assert refresh.revoked is not None
    assert not AccessToken.objects.filter(pk=access.pk).exists()


# --- Email addresses -----------------------------------------------------------------------


def test_staff_who_may_only_view_email_addresses_cannot_mark_one_verified(world):
    address = EmailAddress.objects.create(user=world.carol, email="carol-new@example.org", verified=False)
    viewer = staff_with("account.view_emailaddress")
    assert viewer.get(url(EmailAddress, "changelist")).status_code == 200

    viewer.post(*action(EmailAddress, "make_verified", address))

    address.refresh_from_db()
    # A verified address signs in by code (docs/decisions/0033): viewing must not verify it.
    assert address.verified is False


def test_marking_a_users_address_verified_makes_their_email_verified_and_tells_tenants(world):
    alice = world.alice
    User.objects.filter(pk=alice.pk).update(email_verified=False)
    own, _ = EmailAddress.objects.update_or_create(
        user=alice, email=alice.email, defaults={"verified": False, "primary": True}
    )
    other = EmailAddress.objects.create(user=alice, email="alice-new@example.org", verified=False)
    editor = staff_with("account.view_emailaddress", "account.change_emailaddress")
    last_event = Event.all_tenants.order_by("-pk").values_list("pk", flat=True).first() or 0

    editor.post(*action(EmailAddress, "make_verified", other))
    alice.refresh_from_db()
    assert alice.email_verified is False  # another address: the user's email is as it was
    editor.post(*action(EmailAddress, "make_verified", own))

    alice.refresh_from_db()
    assert [own.email, other.email] == list(
        EmailAddress.objects.filter(user=alice, verified=True).order_by("pk").values_list("email", flat=True)
    )
    assert alice.email_verified is True
    told = Event.all_tenants.filter(pk__gt=last_event)
    assert told.exists()
    assert {(event.type, tuple(event.payload["changed"])) for event in told} == {("user.updated", ("email_verified",))}


# --- The user's page: who read their data --------------------------------------------------


@postgresql_only
def test_the_users_page_links_to_the_streams_that_sent_their_data(staff, world):
    streamed = access_record_for_query(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["uuid", "email"],
        user_ids=User.objects.filter(pk=world.alice.pk).values_list("id", flat=True),
    )
    user_page = staff.get(url(User, "change", world.alice.pk)).content.decode()
    streams = f"{url(AccessRecordSubjectBlock, 'changelist')}?user={world.alice.pk}"
    assert url(AccessRecord, "change", streamed.pk) in user_page
    assert streams in user_page

    listing = staff.get(streams)

    assert listing.status_code == 200
    assert {row.record_id for row in listing.context["cl"].result_list} == {streamed.pk}


def test_staff_who_may_view_users_but_not_access_records_do_not_see_who_read_a_users_data(world):
    access_record(
        tenant=world.bolt.tenant,
        client=world.bolt.backend,
        purpose="postal-marketing",
        action="users.lookup",
        fields=["email"],
        user_ids=[world.alice.pk],
    )
    viewer = staff_with("accounts.view_user")
    assert viewer.get(url(AccessRecord, "changelist")).status_code == 403

    page = viewer.get(url(User, "change", world.alice.pk)).content.decode()

    assert "postal-marketing" not in page
    assert url(AccessRecordSubject, "changelist") not in page
    # Staff who may view the audit see it on the user's page.
    auditor = staff_with("accounts.view_user", "audit.view_accessrecord", email="auditor@harbourmaster.example")
    assert "postal-marketing" in auditor.get(url(User, "change", world.alice.pk)).content.decode()


# --- User search ---------------------------------------------------------------------------


def test_user_search_for_a_unicode_digit_shows_no_users_instead_of_failing(staff, world):
    # "²" is a digit to str.isdigit() but not to int().
    page = staff.get(url(User, "changelist"), {"q": "²"})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == []
    by_id = staff.get(url(User, "changelist"), {"q": str(world.bob.pk)})
    assert list(by_id.context["cl"].result_list) == [world.bob]


# --- Staff and superuser rights ------------------------------------------------------------


def test_only_superusers_make_staff_superusers_or_hand_out_groups_and_permissions(staff, world):
    member = limited_staff("accounts.view_user", "accounts.change_user")
    editor = signed_in(member)
    admins = Group.objects.create(name="admins")
    every_permission = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    page = editor.get(url(User, "change", member.pk))
    assert "is_superuser" not in page.context["adminform"].form.fields

    for target in (member, world.bob):
        page = editor.get(url(User, "change", target.pk))
        typed_in = {"is_superuser": "on", "is_staff": "on", "groups": [str(admins.pk)]}
        editor.post(
            url(User, "change", target.pk),
            resubmit(page, given_name="Renamed", user_permissions=every_permission, **typed_in),
        )

    member.refresh_from_db()
    bob = User.objects.get(pk=world.bob.pk)
    assert (member.is_superuser, member.groups.count(), member.user_permissions.count()) == (False, 0, 2)
    assert (bob.is_superuser, bob.is_staff, bob.groups.count(), bob.user_permissions.count()) == (False, False, 0, 0)
    assert (member.given_name, bob.given_name) == ("Renamed", "Renamed")  # the rest of the form still saves
    # A superuser still can.
    page = staff.get(url(User, "change", world.bob.pk))
    staff.post(url(User, "change", world.bob.pk), resubmit(page, is_staff="on", groups=[str(admins.pk)]))
    bob = User.objects.get(pk=world.bob.pk)
    assert bob.is_staff is True
    assert list(bob.groups.all()) == [admins]


def test_an_address_cannot_be_typed_in_or_ticked_verified_in_the_admin(client, world):
    """A verified address signs in by code: staff verify one only by the action."""
    address = EmailAddress.objects.create(user=world.carol, email="other@example.org", verified=False, primary=False)
    client.force_login(world.staff)
    change = reverse("admin:account_emailaddress_change", args=[address.pk])
    client.post(change, {"user": world.carol.pk, "email": "mallory@example.org", "verified": "on", "primary": "on"})
    address.refresh_from_db()
    assert (address.email, address.verified, address.primary) == ("other@example.org", False, False)
    assert client.get(reverse("admin:account_emailaddress_add")).status_code == 403
