"""Passkeys (WebAuthn) as the second step of signing in, in a real browser, through a
tenant app's OpenID Connect flow: enrolling one where the tenant requires a second step,
then signing in with it. Chromium's virtual authenticator (DevTools' WebAuthn domain)
stands in for a phone or security key; the hub and the browser do the real ceremony.

WebAuthn needs a secure context and an RP ID matching the page's host: http://localhost
is one, http://127.0.0.1 is not, so this module's hub is the live server on localhost.
"""

import re
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from playwright.sync_api import Page, expect

from tenants.services import tenant_config_update

from ..conftest import SYSTEM
from .conftest import Provider, sign_in_on_the_page
from .test_signin_mfa import sign_out

pytestmark = pytest.mark.django_db(transaction=True)

AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True}
AUTHENTICATOR |= {"hasUserVerification": True, "isUserVerified": True}


@pytest.fixture
def provider(live_server, transactional_db) -> Provider:
    """The hub as the browser reaches it on localhost (the issuer follows the host)."""
    parts = urlsplit(live_server.url)
    issuer = urlunsplit(parts._replace(netloc=f"localhost:{parts.port}"))
    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    assert response.json()["issuer"] == issuer
    return Provider(issuer=issuer, metadata=response.json())


def back_at(page: Page, app, click) -> str:
    """The URL the hub sends the browser back to ``app`` with, after ``click``.

    Read off the request itself: the browser's redirect to the app's made-up domain is not
    always answered by the context's route, and the test needs only the code and state.
    """
    with page.expect_request(re.compile("^" + re.escape(app.redirect_uri) + r"\?")) as request:
        click()
    return request.value.url


def scripts_ready(page: Page) -> None:
    """allauth wires its passkey buttons on DOMContentLoaded: a click before that, as soon
    as the heading shows, would go to a button with no handler yet (a flaky test)."""
    page.wait_for_load_state("load")


@pytest.fixture
def passkey_device(browser_context, page):
    """A platform authenticator with fingerprint unlock, plugged into ``page``'s browser."""
    cdp = browser_context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator_id = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]

    def credentials() -> list[dict]:
        return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]

    return credentials


def test_a_tenant_that_requires_mfa_has_the_user_add_a_passkey_then_sign_in_with_it(
    page, world, tenant_app, dora, passkey_device
):
    config = {"mfa": {"required": True, "methods": ["webauthn"]}}
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    # 1. Password first; Acme wants a second step, and a passkey is the one it takes.
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    expect(page.get_by_text("Acme asks for a second step when you sign in")).to_be_visible()
    expect(page.get_by_role("link", name="Use an authenticator app instead")).to_have_count(0)

    # 2. The browser makes the passkey (the device confirms the fingerprint by itself).
    page.get_by_label("Name, to tell your passkeys apart").fill("Dora's laptop")
    scripts_ready(page)
    page.get_by_role("button", name="Add a passkey").click()

    # 3. Recovery codes, shown once, for when the device is lost; then back to Acme.
    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    assert len(page.get_by_role("list", name="Your recovery codes").get_by_role("listitem").all()) == 10
    [device_credential] = passkey_device()
    [passkey] = Authenticator.objects.filter(user=dora, type=Authenticator.Type.WEBAUTHN)
    assert passkey.wrap().name == "Dora's laptop"
    callback = back_at(page, acme, page.get_by_role("link", name="Continue to Acme").click)
    _token, id_token = acme.finish(callback)
    assert id_token["sub"] == str(dora.uuid)
    assert {"pwd", "hwk", "mfa"} <= set(id_token["amr"])

    # 4. Next time: password, then the passkey instead of a code, and straight back.
    sign_out(page, acme.provider)
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    scripts_ready(page)
    callback = back_at(page, acme, page.get_by_role("button", name="Use a passkey").click)
    _token, id_token = acme.finish(callback)
    assert id_token["sub"] == str(dora.uuid)
    assert set(id_token["amr"]) == {"pwd", "hwk", "mfa"}
    # The device signed once more (its counter moved), and the hub noted the use.
    [after] = passkey_device()
    assert after["signCount"] > device_credential["signCount"]
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None

    # 5. The overview lists it; confirming it's you again takes the passkey too.
    page.goto(f"{acme.provider.issuer}/accounts/2fa/")
    expect(page.get_by_text("1 passkey.")).to_be_visible()
    page.get_by_role("link", name="Manage passkeys").click()
    expect(page.get_by_role("list", name="Your passkeys")).to_contain_text("Dora's laptop")
    page.goto(f"{acme.provider.issuer}/accounts/2fa/webauthn/reauthenticate/?next=/accounts/2fa/webauthn/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
    scripts_ready(page)
    page.get_by_role("button", name="Use a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passkeys")
    assert passkey_device()[0]["signCount"] > after["signCount"]


def test_a_passkey_is_offered_only_to_someone_who_has_one(page, world, tenant_app, dora, passkey_device):
    """Someone with only an authenticator app sees the code field and no passkey button."""
    TOTP.activate(dora, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    expect(page.get_by_label("Code")).to_be_visible()
    expect(page.get_by_role("button", name="Use a passkey")).to_have_count(0)
    assert re.search(r"/accounts/2fa/authenticate/", page.url)
