"""allauth's address page (``/accounts/email/``) and its confirmation link write ``User.email``
themselves: the hub's ``email_verified`` follows the address allauth puts there, and the
user's tenants hear of it (docs/decisions/0033, "allauth's address page")."""

import re
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.test import Client as Browser

from accounts.models import User
from accounts.oidc.claims import user_claims
from accounts.services import user_push
from events.models import Event
from tests.conftest import SYSTEM
from tests.test_signin_codes import enter_code, last_code, request_code, signed_in_user, texts
from tests.test_signin_policy import PASSWORD
from tests.test_signin_policy import authorize_path as app_authorize_path

pytestmark = pytest.mark.django_db(transaction=True)

CONFIRMATION_LINK = r"https?://[^/\s]+(/accounts/confirm-email/\S+/)"


@pytest.fixture
def sms_outbox(tmp_path, settings):
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    return settings.SMS_OUTBOX_DIR


@pytest.fixture
def codes_tenant(make_tenant, make_client):
    """A tenant signing in by password, email and SMS codes, and its app's ``next``."""
    config = {
        "login_methods": ["password", "email_code", "sms_code"],
        "otp": {"length": 6, "ttl_seconds": 300, "max_attempts": 3, "channels": ["email", "sms"]},
    }
    tenant = make_tenant("harbour", config=config)
    client, _ = make_client(tenant, public=True)
    return tenant, "/o/authorize/?" + urlencode({"client_id": client.client_id, "response_type": "code"})


@pytest.fixture
def mallory(codes_tenant, sms_outbox):
    """A pushed account, address verified by the tenant (no allauth row for it), signed in by
    SMS code in ``mallory.browser``. That first sign-in proves the phone only: the address
    the tenant called verified is a claim from then on (decision 35)."""
    tenant, next_url = codes_tenant
    user, _created, _changed = user_push(
        actor=SYSTEM,
        tenant=tenant,
        profile={
            "email": "mallory@example.org",
            "email_verified": True,
            "phone_number": "+4915123456789",
            "phone_number_verified": True,
        },
    )
    user.browser = Browser()
    request_code(user.browser, next_url, channel="sms", phone="+4915123456789")
    enter_code(user.browser, next_url, last_code(texts(sms_outbox)[-1]))
    assert signed_in_user(user.browser) == user
    user.refresh_from_db()
    assert (user.email, user.email_verified, user.phone_number_verified) == ("mallory@example.org", False, True)
    return user


def victim_signs_in_by_code(next_url: str) -> User:
    victim = Browser()
    mail.outbox.clear()
    request_code(victim, next_url, channel="email", email="victim@example.org")
    enter_code(victim, next_url, last_code(mail.outbox[-1].body))
    return signed_in_user(victim)


def email_claims(user: User, tenant) -> dict:
    user.refresh_from_db()
    claims = user_claims(user=user, tenant=tenant, scopes=["openid", "email"])
    return {name: claims.get(name) for name in ("email", "email_verified")}


def test_an_address_made_primary_without_proof_is_neither_verified_nor_a_way_into_the_account(codes_tenant, mallory):
    tenant, next_url = codes_tenant
    mallory.browser.post("/accounts/email/", {"action_add": "", "email": "victim@example.org"})
    mallory.browser.post("/accounts/email/", {"action_primary": "", "email": "victim@example.org"})

    assert email_claims(mallory, tenant) == {"email": "victim@example.org", "email_verified": False}
    told = Event.all_tenants.filter(tenant=tenant, type="user.updated", subject=str(mallory.uuid)).order_by("pk").last()
    assert told.payload["changed"] == ["email"]  # the flag was a claim's already

    victim = victim_signs_in_by_code(next_url)
    assert victim.is_authenticated and victim != mallory
    assert victim.email == "victim@example.org" and victim.email_verified
    assert email_claims(mallory, tenant)["email"] is None  # the claim went (decision 33)


def test_removing_the_address_allauth_took_for_the_email_leaves_no_proof_behind(codes_tenant, mallory):
    """allauth puts another address of the user in ``User.email`` when the one there is
    removed, unconfirmed or not."""
    tenant, next_url = codes_tenant
    mallory.browser.post("/accounts/email/", {"action_add": "", "email": "victim@example.org"})
    mallory.browser.post("/accounts/email/", {"action_remove": "", "email": "mallory@example.org"})

    assert email_claims(mallory, tenant) == {"email": "victim@example.org", "email_verified": False}
    victim = victim_signs_in_by_code(next_url)
    assert victim.is_authenticated and victim != mallory


def test_an_address_confirmed_by_its_link_is_verified_for_the_apps(world):
    target = app_authorize_path(world.acme.app)
    browser = Browser()
    browser.get(target, follow=True)
    browser.post("/accounts/signup/", {"email": "newcomer@example.org", "password1": PASSWORD, "next": target})
    (message,) = mail.outbox
    browser.post(re.search(CONFIRMATION_LINK, message.body).group(1))

    user = User.objects.get(email="newcomer@example.org")
    assert email_claims(user, world.acme.tenant) == {"email": "newcomer@example.org", "email_verified": True}
    told = Event.all_tenants.filter(tenant=world.acme.tenant, type="user.updated", subject=str(user.uuid))
    assert [event.payload["changed"] for event in told] == [["email_verified"]]


def test_a_new_primary_address_is_told_to_the_users_tenants(codes_tenant):
    """Sam signs in by email code (so his address is verified), adds a second address,
    confirms it by its link and makes it primary."""
    tenant, next_url = codes_tenant
    browser = Browser()
    request_code(browser, next_url, channel="email", email="sam@example.org")
    enter_code(browser, next_url, last_code(mail.outbox[-1].body))
    sam = signed_in_user(browser)
    updates = Event.all_tenants.filter(tenant=tenant, type="user.updated", subject=str(sam.uuid))
    told_before = updates.count()  # the code sign-up's proof (email_verified)
    mail.outbox.clear()
    browser.post("/accounts/email/", {"action_add": "", "email": "sam.new@example.org"})
    browser.post(re.search(CONFIRMATION_LINK, mail.outbox[-1].body).group(1))
    assert updates.count() == told_before  # a confirmed second address changes no claim

    browser.post("/accounts/email/", {"action_primary": "", "email": "sam.new@example.org"})

    assert email_claims(sam, tenant) == {"email": "sam.new@example.org", "email_verified": True}
    assert [event.payload["changed"] for event in updates.order_by("pk")[told_before:]] == [["email"]]


def test_a_pushed_account_confirming_an_address_allauth_makes_primary_tells_the_tenant(codes_tenant, mallory):
    """No primary address in allauth's table: the first one confirmed becomes the email."""
    tenant, _next_url = codes_tenant
    mail.outbox.clear()
    mallory.browser.post("/accounts/email/", {"action_add": "", "email": "mallory.new@example.org"})
    mallory.browser.post(re.search(CONFIRMATION_LINK, mail.outbox[-1].body).group(1))

    assert email_claims(mallory, tenant) == {"email": "mallory.new@example.org", "email_verified": True}
    told = Event.all_tenants.filter(tenant=tenant, type="user.updated", subject=str(mallory.uuid)).order_by("pk").last()
    assert told.payload["changed"] == ["email", "email_verified"]
