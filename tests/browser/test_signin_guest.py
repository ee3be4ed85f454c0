"""Guests in a real browser, through a tenant app's OpenID Connect flow: continue as a guest,
then create an account on the same device and find the guest merged into it."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership, User
from consents.models import Channel, Consent, ConsentRecord
from consents.services import consent_grant
from events.models import Event
from harbourmaster.actors import Actor
from tenants.services import tenant_config_update

from ..conftest import SYSTEM
from .conftest import PASSWORD, sign_in_on_the_page
from .test_sign_in import arrive_at

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_guest_who_registers_is_merged_into_the_new_account(page, browser_context, world, tenant_app):
    tenant_config_update(
        actor=SYSTEM, tenant=world.acme.tenant, config={"login_methods": ["password", "guest"]}, partial=True
    )
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    # 1. A visitor continues as a guest and comes back to the app with a code.
    acme.start_sign_in(page)
    page.get_by_role("button", name="Continue as guest").click()
    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    guest = User.objects.get(uuid=id_token["sub"])
    assert guest.is_guest and guest.email is None
    assert not id_token.get("amr")  # no credential was shown: no amr (docs/decisions/0016)
    device = next(cookie for cookie in browser_context.cookies() if cookie["name"] == "hm_guest")
    assert device["httpOnly"] and device["sameSite"] == "Lax"

    # The app records the guest's newsletter consent through the API, as tenants do.
    consent_grant(
        actor=Actor.client(world.acme.backend), user=guest, purpose=world.acme.newsletter, channel=Channel.WEB
    )

    # 2. Later, on the same device, the visitor creates an account.
    page.goto(f"{acme.provider.issuer}/accounts/logout/")
    page.get_by_role("button", name=re.compile("Sign out", re.I)).click()
    acme.start_sign_in(page)
    page.get_by_role("link", name="Create one").click()
    page.get_by_label("Email").fill("erin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign up", re.I)).click()

    # 3. The address is confirmed from the mail; then Erin signs in and the app gets her.
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    # allauth does not sign in on confirmation here (ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION is off).
    expect(page.get_by_label("Password")).to_be_visible()
    sign_in_on_the_page(page, "erin@example.org")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    acme.start_sign_in(page)
    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    erin = User.objects.get(email="erin@example.org")
    assert id_token["sub"] == str(erin.uuid)

    # 4. The guest is part of Erin's account now, in the database.
    guest.refresh_from_db()
    assert guest.merged_into == erin and guest.merged_at is not None and not guest.is_active
    assert Consent.all_tenants.get(user=erin, purpose=world.acme.newsletter).is_granted
    assert ConsentRecord.all_tenants.get(user=erin).source == f"guest-merge:{guest.uuid}"
    assert Membership.all_tenants.filter(tenant=world.acme.tenant, user=erin).exists()
    merged = Event.all_tenants.get(type="user.merged")
    assert (merged.tenant, merged.payload) == (world.acme.tenant, {"guest": str(guest.uuid), "user": str(erin.uuid)})


def test_a_tenant_without_guests_offers_none_and_refuses_one(page, world, tenant_app):
    bolt = tenant_app(world.bolt.tenant, "shop.bolt.example")
    bolt.start_sign_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Bolt app")
    expect(page.get_by_role("button", name="Continue as guest")).to_have_count(0)

    # A hand-made guest form on Bolt's page (same session, same CSRF token) is refused.
    page.evaluate(
        """() => {
            const form = document.querySelector("form[action$='/accounts/login/']");
            form.action = "/accounts/guest/";
            form.submit();
        }"""
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Guest access is not available")
    expect(page.get_by_role("alert")).to_contain_text("Bolt does not offer guest access.")
    assert not User.objects.filter(kind=User.Kind.GUEST).exists()
