"""The authorization endpoint's POST (the consent form) keeps every sign-in rule its GET
keeps (found by a bug hunt of session 6)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from tests import test_signin_policy
from tests.oidc.test_acr_values import TOTP_RECORD, TWO, id_token_after
from tests.oidc.test_claims_parameter import PASSWORD_RECORD
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


def test_the_consent_form_posted_without_the_tenants_second_factor_issues_nothing(client, world, alice):
    """The consent form, posted by a session with a password alone, at an MFA tenant's app."""
    configure(world.acme.tenant, mfa={"required": True})
    signed_in(client, alice, {"method": "password", "email": alice.email})
    assert client.get(authorize_path(world.acme.app))["Location"].startswith("/accounts/2fa/")

    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/2fa/")


def test_the_consent_form_posted_by_a_session_of_a_method_the_tenant_does_not_take_issues_nothing(client, world, alice):
    """A session opened by email code, at a password-only tenant's app."""
    configure(world.acme.tenant, login_methods=["password"])
    signed_in(client, alice, {"method": "code", "email": alice.email})
    assert client.get(authorize_path(world.acme.app))["Location"].startswith("/accounts/login/")

    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/login/")


def test_the_consent_form_posted_by_a_guest_where_guests_are_not_taken_issues_nothing(client, world):
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


def test_the_consent_form_posted_for_an_unknown_client_goes_back_to_the_page(world, alice):
    """The form is sent back to the page, which says the client is unknown."""
    browser = Client(raise_request_exception=False)
    signed_in(browser, alice, {"method": "password", "email": alice.email})
    form = consent_form(world.acme.app) | {"client_id": "no-such-client"}
    answer = browser.post("/o/authorize/", form)
    assert answer.status_code == 303
    page = browser.get(answer["Location"])
    assert page.status_code == 400 and "Sign-in could not start" in page.content.decode()


def test_the_consent_page_keeps_the_requests_acr_demand_and_the_id_token_reports_it(client, world, alice):
    """A third-party app's consent page for a two-factor request: the form posts back to the
    request's own address, so the code it issues carries the acr the app asked for."""
    Client_ = type(world.acme.app)
    Client_.objects.filter(pk=world.acme.app.pk).update(skip_authorization=False)
    signed_in(client, alice, PASSWORD_RECORD, TOTP_RECORD)
    page = authorize_path(world.acme.app, acr_values=TWO)
    assert client.get(page).status_code == 200  # the consent page
    answer = client.post(page, consent_form(world.acme.app))
    assert id_token_after(client, world.acme.app, answer)["acr"] == TWO


def test_a_crafted_consent_post_without_the_acr_demand_gets_a_code_whose_id_token_says_so(client, world, alice):
    """Leaving acr_values out is what a request without them is: the code is issued for the
    factors the session has, and the ID token has no acr claim, which an app that asked for
    two factors must find there (Core 1.0, 3.1.2.1)."""
    signed_in(client, alice, PASSWORD_RECORD)
    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert "acr" not in id_token_after(client, world.acme.app, answer)


def test_the_consent_form_posted_with_the_requests_acr_demand_unmet_issues_nothing(client, world, alice):
    """The page posts back to the request's own address: its acr_values are checked too."""
    signed_in(client, alice, PASSWORD_RECORD)
    page = authorize_path(world.acme.app, acr_values=TWO)
    answer = client.post(page, consent_form(world.acme.app))
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/2fa/")


def test_the_consent_form_posted_for_a_disabled_client_issues_nothing(client, world, alice):
    type(world.acme.app).objects.filter(pk=world.acme.app.pk).update(disabled_at=timezone.now())
    signed_in(client, alice, PASSWORD_RECORD)
    answer = client.post("/o/authorize/", consent_form(world.acme.app))
    assert answer.status_code == 303 and "code=" not in answer["Location"]
    assert client.get(answer["Location"]).status_code == 400


@pytest.mark.parametrize("emptied", [{"acr_values": ""}, {"claims": ""}, {"acr_values": "", "claims": ""}])
def test_a_consent_post_cannot_empty_the_requests_acr_demand(client, world, alice, emptied):
    """The toolkit reads acr_values from the request's address, and an empty claims field
    falls back to it too: blanking them in the body changes nothing the check sees."""
    signed_in(client, alice, PASSWORD_RECORD)
    page = authorize_path(world.acme.app, acr_values=TWO, claims='{"id_token": {"acr": {"essential": true}}}')
    answer = client.post(page, consent_form(world.acme.app) | emptied)
    assert refused_to_the_page(client, answer, world.acme.app).startswith("/accounts/2fa/")
