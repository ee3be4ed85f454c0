"""Two-step sign-in in a real browser, through a tenant app's OpenID Connect flow:
enrolling an authenticator app where the tenant requires it, signing in with its codes,
and with a recovery code (each works once)."""

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from playwright.sync_api import Page, expect

from tenants.services import tenant_config_update

from ..conftest import SYSTEM
from .conftest import sign_in_on_the_page
from .test_sign_in import arrive_at

pytestmark = pytest.mark.django_db(transaction=True)


def totp_now(secret: str) -> str:
    """The code an authenticator app shows now (allauth's own RFC 6238 arithmetic)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def sign_out(page: Page, provider) -> None:
    page.goto(f"{provider.issuer}/accounts/logout/")
    page.get_by_role("button", name=re.compile("Sign out", re.I)).click()


def test_a_tenant_that_requires_mfa_has_the_user_enrol_then_asks_for_codes(page, world, tenant_app, dora):
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config={"mfa": {"required": True}}, partial=True)
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    # 1. Password first; the hub then wants a second step, which Dora has not set up yet.
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    # 2. Enrol, without typing the password a second time right after signing in: the QR code and the key to type in; the app's code turns it on.
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    expect(page.get_by_text("Acme asks for a second step when you sign in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.get_by_label("Key for typing in").input_value()
    page.get_by_label("Code from the app").fill(totp_now(secret))
    page.get_by_role("button", name="Turn on").click()

    # 3. The recovery codes, shown this once, and the way back to the app.
    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    codes = page.get_by_role("list", name="Your recovery codes").get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10
    assert Authenticator.objects.filter(user=dora, type=Authenticator.Type.TOTP).exists()
    page.get_by_role("link", name="Continue to Acme").click()

    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    assert id_token["sub"] == str(dora.uuid)
    assert {"pwd", "otp", "mfa"} <= set(id_token["amr"])

    # 4. Next time: password, then a code from the app, and straight back.
    sign_out(page, acme.provider)
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    page.get_by_label("Code").fill(totp_now(secret))
    page.get_by_role("button", name="Continue").click()
    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    assert set(id_token["amr"]) == {"pwd", "otp", "mfa"}

    # 5. The codes were shown once: the page now only counts them (just signed in, so
    # no password again).
    page.goto(f"{acme.provider.issuer}/accounts/2fa/recovery-codes/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    expect(page.get_by_text("unused recovery codes left")).to_be_visible()
    assert not any(page.get_by_text(code).count() for code in codes[1:])


def test_a_recovery_code_signs_in_once(page, browser_context, world, tenant_app, dora):
    TOTP.activate(dora, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    code = RecoveryCodes.activate(dora).get_unused_codes()[0]
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    assert id_token["sub"] == str(dora.uuid)
    assert set(id_token["amr"]) == {"pwd", "otp", "mfa"}

    # The same code in a fresh session is refused.
    browser_context.clear_cookies()
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("Incorrect code.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
