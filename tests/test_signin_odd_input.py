"""Sign-in pages given what no app sends: a ``next`` that is no URL, a guest door at a tenant
that takes no guests, a consent page for someone without an email address."""

import pytest

from tenants.services import tenant_config_update
from tests.conftest import SYSTEM
from tests.test_guest_sign_in import allow_guests, authorize_path, continue_as_guest

PKCE = {"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
NO_URL = ["http://[", "//[", "http://[?ui_locales=de", "http://[?login_hint=a@b.example"]  # urlsplit raises ValueError


# --- A ``next`` that is not a parsable URL: no client, no locales, not a server error -----


@pytest.mark.parametrize("next_url", NO_URL)
@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_a_next_that_is_no_url_gets_the_hubs_own_page(world, client, page, next_url):
    client.raise_request_exception = False
    response = client.get(page, {"next": next_url})
    assert response.status_code == 200
    assert "Harbourmaster" in response.content.decode()  # no tenant's page: the hub's own


def test_continue_as_guest_with_a_next_that_is_no_url_is_refused_as_at_the_hub(world, client):
    """No client, so the hub's own rules: they take no guests."""
    allow_guests(world.acme.tenant)
    client.raise_request_exception = False
    response = client.post("/accounts/guest/", {"next": "//["})
    assert response.status_code == 403


# --- "Continue as guest" only where the tenant takes guests (decision 16) ----------------


def test_the_login_page_offers_no_guest_door_where_the_tenant_requires_mfa(world, client):
    config = {"login_methods": ["password", "guest"], "mfa": {"required": True}}
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    page = client.get("/accounts/login/", {"next": authorize_path(world.acme.app)}).content.decode()
    assert "Continue as guest" not in page
    assert 'name="password"' in page  # the rest of the page is offered
    assert continue_as_guest(client, world.acme.app).status_code == 403  # what the button would get


def test_the_login_page_offers_the_guest_door_where_the_tenant_takes_guests(world, client):
    config = {"login_methods": ["password", "guest"], "mfa": {"required": False}}
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    page = client.get("/accounts/login/", {"next": authorize_path(world.acme.app)}).content.decode()
    assert "Continue as guest" in page


# --- Who the consent page says is signed in -----------------------------------------------


def consent_page(client, app, **headers) -> str:
    response = client.get(
        authorize_path(app, redirect_uri="https://app.acme.example/callback", prompt="consent", **PKCE), **headers
    )
    page = response.content.decode()
    assert response.status_code == 200 and "authorizationForm" in page
    return page


def test_the_consent_page_tells_a_guest_they_are_signed_in_as_a_guest(world, client):
    allow_guests(world.acme.tenant)
    continue_as_guest(client, world.acme.app)
    page = consent_page(client, world.acme.app)
    assert "Signed in as a guest." in page and "None" not in page


def test_the_consent_page_tells_a_guest_in_german(world, client):
    allow_guests(world.acme.tenant)
    continue_as_guest(client, world.acme.app)
    page = consent_page(client, world.acme.app, HTTP_ACCEPT_LANGUAGE="de")
    assert "Als Gast angemeldet." in page


def test_the_consent_page_names_the_phone_number_of_a_user_without_email(world, client, make_user):
    user = make_user(phone_number="+4915123456789", phone_number_verified=True)
    client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
    page = consent_page(client, world.acme.app)
    assert "Signed in with the phone number +4915123456789." in page and "None" not in page


def test_the_consent_page_names_the_email_of_a_user_with_one(world, client):
    client.force_login(world.alice, backend="allauth.account.auth_backends.AuthenticationBackend")
    assert "Signed in as alice@example.org." in consent_page(client, world.acme.app)
