"""prompt and max_age (OpenID Connect Core 1.0, 3.1.2.1), as a relying party meets them."""

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone

from accounts.models import User

from .conftest import query_of, relying_party

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long and unusual passphrase"
REDIRECT = "https://app.acme.example/callback"


@pytest.fixture
def dora(make_user):
    return make_user("dora@example.org", password=PASSWORD)


@pytest.fixture
def partner(world, make_client):
    client, _ = make_client(
        world.acme.tenant, public=True, redirect_uris=["https://partner.example/callback"], first_party=False
    )
    return client


def signed_in_at(user, seconds_ago: int) -> None:
    # A forced sign-in leaves no allauth record; its time is the user's last_login.
    User.objects.filter(pk=user.pk).update(last_login=timezone.now() - timedelta(seconds=seconds_ago))


def authorize(provider, session, client, **params):
    """The authorization endpoint's first answer, and what the client needs to go on."""
    rp = relying_party(client, scope="openid email")
    verifier = "v" * 64
    url, state = rp.create_authorization_url(
        provider.endpoint("authorization_endpoint"), code_verifier=verifier, nonce="n-1", **params
    )
    response = session.get(url, allow_redirects=False, timeout=10)
    return response, rp, verifier, state


def redeem(provider, rp, verifier, location) -> dict:
    token = rp.fetch_token(provider.endpoint("token_endpoint"), authorization_response=location, code_verifier=verifier)
    return provider.decode(token["id_token"]).claims


def reauthenticate(provider, session, location, password=PASSWORD):
    """Fill in allauth's re-authentication page the way a browser would; return where it sends us."""
    page = session.get(f"{provider.issuer}{location}", timeout=10)
    assert page.status_code == 200
    assert "Confirm it's you" in page.text and 'type="password"' in page.text
    next_url = query_of(location)["next"]
    answer = session.post(
        f"{provider.issuer}/accounts/reauthenticate/",
        data={"password": password, "next": next_url, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:300]
    assert answer.headers["Location"] == next_url
    return session.get(f"{provider.issuer}{next_url}", allow_redirects=False, timeout=10)


# --- prompt=none -------------------------------------------------------------------


def test_prompt_none_without_a_session_answers_login_required_and_shows_no_page(provider, world):
    with requests.Session() as anonymous:
        response, _rp, _verifier, state = authorize(provider, anonymous, world.acme.app, prompt="none")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT + "?")
    answer = query_of(response.headers["Location"])
    assert answer["error"] == "login_required"
    assert answer["state"] == state and answer["iss"] == provider.issuer
    assert "code" not in answer


def test_prompt_none_for_a_third_party_app_without_a_session_still_answers_login_required(provider, partner):
    with requests.Session() as anonymous:
        response, *_ = authorize(provider, anonymous, partner, prompt="none")
    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_prompt_none_with_a_session_signs_in_silently(provider, world, browser):
    response, rp, verifier, state = authorize(provider, browser(world.alice), world.acme.app, prompt="none")
    assert response.status_code == 302
    answer = query_of(response.headers["Location"])
    assert answer["state"] == state and "error" not in answer
    assert redeem(provider, rp, verifier, response.headers["Location"])["sub"] == str(world.alice.uuid)


def test_prompt_none_at_a_third_party_app_answers_consent_required(provider, world, browser, partner):
    response, *_ = authorize(provider, browser(world.alice), partner, prompt="none")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://partner.example/callback?")
    assert query_of(response.headers["Location"])["error"] == "consent_required"


def test_prompt_none_with_another_value_is_refused(provider, world, browser):
    response, *_ = authorize(provider, browser(world.alice), world.acme.app, prompt="none login")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


# --- prompt=login --------------------------------------------------------------------


def test_prompt_login_without_a_session_shows_the_login_page_once(provider, world):
    with requests.Session() as anonymous:
        response, *_ = authorize(provider, anonymous, world.acme.app, prompt="login")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/accounts/login/"
    next_url = query_of(response.headers["Location"])["next"]
    assert next_url.startswith("/o/authorize/?") and "prompt" not in query_of(next_url)


def test_prompt_login_asks_a_signed_in_user_again_and_moves_auth_time(provider, world, browser, dora):
    session = browser(dora)
    signed_in_at(dora, seconds_ago=3600)
    response, rp, verifier, _state = authorize(provider, session, world.acme.app, prompt="login")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/accounts/reauthenticate/"
    assert "prompt" not in query_of(query_of(response.headers["Location"])["next"])

    before = int(time.time())
    back = reauthenticate(provider, session, response.headers["Location"])
    assert back.status_code == 302 and "code" in query_of(back.headers["Location"])
    claims = redeem(provider, rp, verifier, back.headers["Location"])
    assert claims["auth_time"] >= before
    assert claims["amr"] == ["pwd"]


def test_prompt_login_with_a_wrong_password_gives_no_code(provider, world, browser, dora):
    session = browser(dora)
    response, *_ = authorize(provider, session, world.acme.app, prompt="login")
    location = response.headers["Location"]
    page = session.get(f"{provider.issuer}{location}", timeout=10)
    answer = session.post(
        f"{provider.issuer}/accounts/reauthenticate/",
        data={
            "password": "wrong",
            "next": query_of(location)["next"],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 200
    assert 'role="alert"' in answer.text or "incorrect" in answer.text.lower()
    assert "Location" not in answer.headers


# --- max_age -------------------------------------------------------------------------


def test_a_sign_in_younger_than_max_age_goes_straight_through_with_auth_time(provider, world, browser, dora):
    session = browser(dora)
    signed_in_at(dora, seconds_ago=60)
    response, rp, verifier, _state = authorize(provider, session, world.acme.app, max_age="600")
    assert response.status_code == 302 and "code" in query_of(response.headers["Location"])
    claims = redeem(provider, rp, verifier, response.headers["Location"])
    assert abs(claims["auth_time"] - (time.time() - 60)) < 10


def test_a_sign_in_older_than_max_age_must_be_repeated(provider, world, browser, dora):
    session = browser(dora)
    signed_in_at(dora, seconds_ago=3600)
    response, rp, verifier, _state = authorize(provider, session, world.acme.app, max_age="600")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/accounts/reauthenticate/"
    assert "max_age" not in query_of(query_of(response.headers["Location"])["next"])

    before = int(time.time())
    back = reauthenticate(provider, session, response.headers["Location"])
    claims = redeem(provider, rp, verifier, back.headers["Location"])
    assert claims["auth_time"] >= before


def test_max_age_with_prompt_none_answers_login_required(provider, world, browser, dora):
    session = browser(dora)
    signed_in_at(dora, seconds_ago=3600)
    response, *_ = authorize(provider, session, world.acme.app, max_age="600", prompt="none")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT + "?")
    assert query_of(response.headers["Location"])["error"] == "login_required"


@pytest.mark.parametrize("max_age", ["soon", "-5", "1.5", ""])
def test_a_malformed_max_age_is_an_invalid_request(provider, world, browser, max_age):
    response, *_ = authorize(provider, browser(world.alice), world.acme.app, max_age=max_age)
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


# --- prompt=consent ------------------------------------------------------------------


def test_prompt_consent_asks_even_for_a_first_party_app(provider, world, browser):
    session = browser(world.alice)
    without, *_ = authorize(provider, session, world.acme.app)
    assert without.status_code == 302 and "code" in query_of(without.headers["Location"])

    page, *_ = authorize(provider, session, world.acme.app, prompt="consent")
    assert page.status_code == 200
    assert 'id="authorizationForm"' in page.text
    assert "Allow acme app to sign you in?" in page.text
    assert "Your email address" in page.text
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_discovery_lists_the_prompt_values_honoured(provider):
    assert provider.metadata["prompt_values_supported"] == ["none", "login", "consent"]
