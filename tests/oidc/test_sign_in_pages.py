"""The pages a person signs in on, as the live server serves them."""

import re

import pytest
import requests
from allauth.account.models import EmailAddress

from tenants.services import tenant_config_update

from .conftest import query_of, relying_party

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long and unusual passphrase"


def set_cookies(response: requests.Response) -> dict[str, str]:
    """Each Set-Cookie header of a response, by cookie name."""
    headers = response.raw.headers.getlist("Set-Cookie")
    return {header.split("=", 1)[0]: header for header in headers}


def login_page_for(provider, session, client) -> requests.Response:
    with relying_party(client) as rp:
        url, _state = rp.create_authorization_url(provider.endpoint("authorization_endpoint"), code_verifier="v" * 64)
    response = session.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return session.get(f"{provider.issuer}{response.headers['Location']}", timeout=10)


def test_login_page_names_the_app_and_labels_every_field(provider, world):
    with requests.Session() as session:
        page = login_page_for(provider, session, world.acme.app)
    assert page.status_code == 200
    assert "<h1>Sign in to acme app</h1>" in page.text
    assert "continue to Acme." in page.text
    assert re.search(r'<label for="id_login">Email:?</label>', page.text), page.text
    assert re.search(r'<label for="id_password">Password:?</label>', page.text)
    assert 'autocomplete="current-password"' in page.text
    assert '<input type="hidden" name="next" value="/o/authorize/?' in page.text
    assert "<script" not in page.text  # it works without JavaScript
    assert page.headers["X-Frame-Options"] == "DENY"


def test_login_page_uses_the_tenants_display_name(provider, world, actor):
    tenant_config_update(
        actor=actor, tenant=world.acme.tenant, config={"branding": {"display_name": "Acme Daily"}}, partial=True
    )
    with requests.Session() as session:
        page = login_page_for(provider, session, world.acme.app)
    assert "continue to Acme Daily." in page.text


def test_login_page_without_an_app_is_plain(provider):
    page = requests.get(f"{provider.issuer}/accounts/login/?next=https://evil.example/o/authorize/", timeout=10)
    assert page.status_code == 200
    assert "<h1>Sign in</h1>" in page.text


def test_a_wrong_password_is_announced_and_signs_nobody_in(provider, world, make_user):
    make_user("erin@example.org", password=PASSWORD)
    with requests.Session() as session:
        page = login_page_for(provider, session, world.acme.app)
        answer = session.post(
            page.url,
            data={
                "login": "erin@example.org",
                "password": "not it",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
    assert answer.status_code == 200
    assert '<div class="errors" role="alert">' in answer.text
    assert "hm_session" not in set_cookies(answer)


def test_the_hub_session_cookie_is_httponly_and_samesite_lax(provider, world, make_user):
    user = make_user("fay@example.org", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    with requests.Session() as session:
        page = login_page_for(provider, session, world.acme.app)
        answer = session.post(
            page.url,
            data={
                "login": user.email,
                "password": PASSWORD,
                "next": query_of(page.url)["next"],
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
    # allauth answers a successful sign-in with 302 (HttpResponseRedirect), not 303;
    # browsers follow either with a GET, so the credentials are never re-posted.
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/o/authorize/?")
    cookie = set_cookies(answer)["hm_session"]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    # Secure comes with production settings (tests/test_settings.py); this server is plain HTTP.
    assert "secure" not in attributes


def test_consent_page_is_not_framed_and_names_app_and_tenant(provider, world, browser, make_client):
    client, _ = make_client(
        world.acme.tenant,
        public=True,
        redirect_uris=["https://partner.example/callback"],
        first_party=False,
        name="Partner",
    )
    with relying_party(client, scope="openid email") as rp:
        url, _state = rp.create_authorization_url(provider.endpoint("authorization_endpoint"), code_verifier="v" * 64)
    page = browser(world.alice).get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200
    assert "<h1>Allow Partner to sign you in?</h1>" in page.text
    assert "An app of Acme." in page.text
    assert "Signed in as alice@example.org." in page.text
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert page.headers["X-Frame-Options"] == "DENY"
