"""The authorization endpoint's POST (the consent form) keeps every sign-in rule its GET
keeps (found by a bug hunt of session 6)."""

from urllib.parse import parse_qs, urlsplit

from django.test import Client

from tests import test_signin_policy
from tests.test_signin_policy import (
    authorize_path,
    configure,
    signed_in,
)

alice = test_signin_policy.alice  # the fixture: Alice with a password and a verified address


def consent_form(app) -> dict:
    """The consent form's fields, as the authorization page would render them."""
    query = parse_qs(urlsplit(authorize_path(app)).query)
    return {name: values[0] for name, values in query.items()} | {"allow": "Authorize"}


def refused_to_the_page(client, answer, app) -> str:
    """The POST issued nothing and sent the browser to the same request's page; where that
    page sends it next."""
    assert answer.status_code == 303, answer
    assert "code=" not in answer["Location"]
    assert answer["Location"].startswith("/o/authorize/?") and f"client_id={app.client_id}" in answer["Location"]
    return client.get(answer["Location"])["Location"]


def test_posting_the_consent_form_skips_the_tenants_mfa_rule(client, world, alice):
    """The consent form, posted by a session with a password alone, at an MFA tenant's app."""
    configure(world.acme.tenant, mfa={"required": True})
    signed_in(client, alice, {"method": "password", "email": alice.email})
    assert client.get(authorize_path(world.acme.app))["Location"].startswith("/accounts/2fa/")

    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/2fa/")


def test_posting_the_consent_form_skips_the_tenants_login_methods(client, world, alice):
    """A session opened by email code, at a password-only tenant's app."""
    configure(world.acme.tenant, login_methods=["password"])
    signed_in(client, alice, {"method": "code", "email": alice.email})
    assert client.get(authorize_path(world.acme.app))["Location"].startswith("/accounts/login/")

    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/login/")


def test_posting_the_consent_form_lets_a_guest_into_a_tenant_that_takes_no_guests(client, world):
    """A guest of Bolt, at Acme's app, which takes no guests."""
    configure(world.bolt.tenant, login_methods=["password", "guest"])
    client.post("/accounts/guest/", {"next": authorize_path(world.bolt.app)})  # a guest of Bolt
    assert client.get(authorize_path(world.acme.app))["Location"].startswith("/accounts/login/")
    client.post("/accounts/guest/", {"next": authorize_path(world.bolt.app)})  # signed in as the guest again

    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/login/")


def test_the_consent_form_posted_by_a_session_that_meets_the_rules_issues_a_code(client, world, alice):
    configure(world.acme.tenant, mfa={"required": True})
    signed_in(client, alice, {"method": "password", "email": alice.email}, {"method": "mfa", "type": "totp"})
    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert answer.status_code == 303 and answer["Location"].startswith("https://app.acme.example/callback?code=")


def test_posting_the_consent_form_for_an_unknown_client_is_no_500(world, alice):
    """The form is sent back to the page, which says the client is unknown."""
    browser = Client(raise_request_exception=False)
    signed_in(browser, alice, {"method": "password", "email": alice.email})
    form = consent_form(world.acme.app) | {"client_id": "no-such-client"}
    answer = browser.post("/o/authorize/", form)
    assert answer.status_code == 303
    page = browser.get(answer["Location"])
    assert page.status_code == 400 and "Sign-in could not start" in page.content.decode()
