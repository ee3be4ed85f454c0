"""Signing in through the real pages in a real browser: password, single sign-on, logout, consent."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Membership

from .conftest import sign_in_on_the_page

pytestmark = pytest.mark.django_db(transaction=True)


def answer_of(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


def arrive_at(page: Page, app) -> dict[str, str]:
    """Wait until the hub sends the browser back to ``app``; what it said there."""
    page.wait_for_url(re.compile("^" + re.escape(app.redirect_uri) + r"\?"))
    return answer_of(page.url)


def test_sign_in_single_sign_on_and_logout_in_one_browser(page, world, tenant_app, dora, tmp_path):
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    bolt = tenant_app(world.bolt.tenant, "shop.bolt.example")

    # 1. Acme's app sends the browser to the hub, which asks for a password.
    acme.start_sign_in(page)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Sign in to Acme app")
    expect(page.get_by_text("continue to Acme.")).to_be_visible()
    page.screenshot(path=tmp_path / "login.png", full_page=True)
    sign_in_on_the_page(page, dora.email)

    answer = arrive_at(page, acme)
    assert answer["state"] == acme.state and answer["iss"] == acme.provider.issuer
    token, id_token = acme.finish(page.url)
    assert id_token["sub"] == str(dora.uuid)
    assert id_token["amr"] == ["pwd"]
    assert set(token["scope"].split()) == {"openid", "email"}

    # 2. Bolt's app, another tenant on another domain: signed in without a second prompt.
    shown = []
    page.on("framenavigated", lambda frame: shown.append(frame.url) if frame == page.main_frame else None)
    bolt.start_sign_in(page)
    answer = arrive_at(page, bolt)
    assert "code" in answer and answer["state"] == bolt.state
    assert not [url for url in shown if "/accounts/" in url], shown
    _token, bolt_id_token = bolt.finish(page.url)
    assert bolt_id_token["sub"] == str(dora.uuid)
    assert bolt_id_token["auth_time"] == id_token["auth_time"]  # the same sign-in
    assert Membership.all_tenants.filter(tenant=world.bolt.tenant, user=dora).exists()

    # 3. Acme's app signs the user out of the hub (RP-initiated logout).
    signed_out = acme.redirect_uri.replace("/callback", "/signed-out")
    logout = {"id_token_hint": token["id_token"], "post_logout_redirect_uri": signed_out, "state": "bye"}
    page.goto(f"{acme.provider.endpoint('end_session_endpoint')}?{urlencode(logout)}")
    if page.url.startswith(acme.provider.issuer):  # the hub may ask first
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile("^" + re.escape(signed_out)))
    assert answer_of(page.url) == {"state": "bye"}

    # 4. The hub session is gone: Bolt's app now gets the login page again.
    bolt.start_sign_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Bolt app")
    expect(page.get_by_label("Password")).to_be_visible()


def test_login_page_screenshot_shows_a_sane_form(page, world, tenant_app, tmp_path):
    acme = tenant_app(world.acme.tenant, "app.acme.example", name="Acme Reader")
    acme.start_sign_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Acme Reader")
    email, password = page.get_by_label("Email"), page.get_by_label("Password")
    expect(email).to_have_attribute("type", "email")
    expect(password).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot = tmp_path / "login-page.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 5_000


def test_a_wrong_password_keeps_the_user_on_the_login_page(page, world, tenant_app, dora):
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    sign_in_on_the_page(page, dora.email, password="not the password")
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    assert page.url.startswith(acme.provider.issuer)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Acme app")


def test_third_party_app_asks_and_deny_returns_access_denied(page, world, tenant_app, dora):
    partner = tenant_app(world.acme.tenant, "partner.example", first_party=False, name="Partner Travel")
    partner.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)

    expect(page.get_by_role("heading", level=1)).to_have_text("Allow Partner Travel to sign you in?")
    expect(page.get_by_text("An app of Acme.")).to_be_visible()
    expect(page.get_by_role("listitem")).to_have_text(["Sign you in", "Your email address"])
    page.get_by_role("button", name="Deny").click()

    answer = arrive_at(page, partner)
    assert answer["error"] == "access_denied"
    assert answer["state"] == partner.state and answer["iss"] == partner.provider.issuer
    assert "code" not in answer
    assert not Membership.all_tenants.filter(tenant=world.acme.tenant, user=dora).exists()


def test_third_party_app_allowed_gets_a_code(page, world, tenant_app, dora):
    partner = tenant_app(world.acme.tenant, "partner.example", first_party=False, name="Partner Travel")
    partner.start_sign_in(page)
    sign_in_on_the_page(page, dora.email)
    page.get_by_role("button", name="Allow").click()
    answer = arrive_at(page, partner)
    assert "code" in answer and "error" not in answer
    assert partner.finish(page.url)[1]["sub"] == str(dora.uuid)
