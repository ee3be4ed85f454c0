"""Each mistake or attack gets the error the specs name: never a redirect it must not make, never a 500."""

import base64
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from joserfc.errors import BadSignatureError
from oauth2_provider.models import get_grant_model

from tenants.services import client_disable, tenant_suspend

from .conftest import pkce_pair, query_of

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACK = "https://app.acme.example/callback"


def authorize(provider, session, client_id, **params):
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    query.update(params)
    query = {name: value for name, value in query.items() if value is not None}
    response = session.get(provider.endpoint("authorization_endpoint"), params=query, allow_redirects=False, timeout=10)
    return response, verifier


def code_for(provider, session, client):
    response, verifier = authorize(provider, session, client.client_id)
    assert response.status_code == 302
    return query_of(response.headers["Location"])["code"], verifier


def exchange(provider, client_id, code, verifier, redirect_uri=CALLBACK):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id}
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(provider.endpoint("token_endpoint"), data=data, timeout=10)


# --- At the authorization endpoint: fatal errors show a page and never redirect --------


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "no-such-client"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": CALLBACK + "?next=https://evil.example"},
        {"redirect_uri": CALLBACK + "/"},
        {"redirect_uri": "https://app.acme.example:8443/callback"},
        {"redirect_uri": "http://app.acme.example/callback"},
        {"redirect_uri": CALLBACK + "#fragment"},
        {"redirect_uri": None},
        {"redirect_uri": "not a uri"},
    ],
    ids=[
        "unknown-client",
        "no-client",
        "foreign-redirect",
        "added-query",
        "trailing-slash",
        "other-port",
        "other-scheme",
        "fragment",
        "no-redirect",
        "junk-redirect",
    ],
)
def test_fatal_authorization_errors_show_a_page_and_do_not_redirect(provider, world, browser, params):
    params.setdefault("client_id", world.acme.app.client_id)
    response, _ = authorize(provider, browser(world.alice), **params)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_another_clients_redirect_uri_is_refused(provider, world, browser):
    response, _ = authorize(
        provider, browser(world.alice), world.acme.app.client_id, redirect_uri="https://app.bolt.example/callback"
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_disabled_client_and_suspended_tenant_cannot_sign_users_in(provider, world, browser, actor):
    client_disable(actor=actor, client=world.acme.app)
    tenant_suspend(actor=actor, tenant=world.bolt.tenant)
    for client in (world.acme.app, world.bolt.app):
        redirect = CALLBACK if client == world.acme.app else "https://app.bolt.example/callback"
        response, _ = authorize(provider, browser(world.alice), client.client_id, redirect_uri=redirect)
        assert response.status_code == 400
        assert "Location" not in response.headers


# --- Errors the client may hear: redirected to its registered redirect URI --------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain", "code_challenge": "x" * 50}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # absent means plain (RFC 7636, 4.3)
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "openid phone"}, "invalid_scope"),
        ({"scope": "users:read"}, "invalid_scope"),
    ],
    ids=[
        "no-pkce",
        "plain-pkce",
        "implicit-plain-pkce",
        "unknown-pkce-method",
        "implicit-token",
        "implicit-id-token",
        "hybrid",
        "scope-not-allowed",
        "api-scope",
    ],
)
def test_refused_authorization_requests_go_back_with_the_error(provider, world, browser, params, error):
    response, _ = authorize(provider, browser(world.alice), world.acme.app.client_id, **params)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    answer = query_of(location)
    assert answer["error"] == error
    assert answer["state"] == "st"
    assert "code" not in answer
    assert not get_grant_model().objects.exists()


# --- At the token endpoint --------------------------------------------------------------


def test_missing_or_wrong_pkce_verifier_is_refused(provider, world, browser):
    session = browser(world.alice)
    code, _ = code_for(provider, session, world.acme.app)
    missing = exchange(provider, world.acme.app.client_id, code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    code, verifier = code_for(provider, session, world.acme.app)
    wrong = exchange(provider, world.acme.app.client_id, code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_a_code_works_once(provider, world, browser):
    code, verifier = code_for(provider, browser(world.alice), world.acme.app)
    assert exchange(provider, world.acme.app.client_id, code, verifier).status_code == 200
    reused = exchange(provider, world.acme.app.client_id, code, verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_a_code_expires_after_a_minute(provider, world, browser):
    code, verifier = code_for(provider, browser(world.alice), world.acme.app)
    grant = get_grant_model().objects.get()
    assert grant.expires <= timezone.now() + timedelta(seconds=60)
    get_grant_model().objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange(provider, world.acme.app.client_id, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_another_clients_code_is_refused(provider, world, browser):
    code, verifier = code_for(provider, browser(world.alice), world.acme.app)
    response = exchange(
        provider, world.bolt.app.client_id, code, verifier, redirect_uri="https://app.bolt.example/callback"
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    # The code is still the rightful client's to redeem.
    assert exchange(provider, world.acme.app.client_id, code, verifier).status_code == 200


def test_redirect_uri_must_match_the_authorization_request(provider, world, browser):
    code, verifier = code_for(provider, browser(world.alice), world.acme.app)
    for redirect_uri in (None, CALLBACK + "/"):
        response = exchange(provider, world.acme.app.client_id, code, verifier, redirect_uri=redirect_uri)
        assert response.status_code in (400, 401)
        assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_unknown_client_at_the_token_endpoint(provider, world, browser):
    code, verifier = code_for(provider, browser(world.alice), world.acme.app)
    response = exchange(provider, "no-such-client", code, verifier)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("code", ["", "x", "a" * 5000, "\x00"])
def test_junk_codes_are_refused_cleanly(provider, world, code):
    response = exchange(provider, world.acme.app.client_id, code, "v" * 50)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_tampered_tokens_are_refused(provider, world, sign_in):
    token = sign_in(world.acme.app, world.alice).token
    tampered_access = token["access_token"][:-2] + "zz"
    response = requests.get(
        provider.endpoint("userinfo_endpoint"), headers={"Authorization": f"Bearer {tampered_access}"}, timeout=10
    )
    assert response.status_code == 401
    refresh = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"] + "x",
            "client_id": world.acme.app.client_id,
        },
        timeout=10,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    header, payload, signature = token["id_token"].split(".")
    with pytest.raises(BadSignatureError):
        provider.decode(f"{header}.{payload}.{signature[:-4]}AAAA")


def test_access_token_in_the_query_string_is_refused(provider, world, sign_in):
    token = sign_in(world.acme.app, world.alice).token
    response = requests.get(
        provider.endpoint("userinfo_endpoint"), params={"access_token": token["access_token"]}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- Values no database column can hold ---------------------------------------------------


@pytest.mark.parametrize("field", ["client_id", "nonce", "code_challenge", "state", "redirect_uri"])
def test_nul_in_an_authorization_parameter_is_a_bad_request(provider, world, browser, field):
    params = {field: "a\x00b"}
    client_id = params.pop("client_id", world.acme.app.client_id)
    response, _ = authorize(provider, browser(world.alice), client_id, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("endpoint", ["token_endpoint", "revocation_endpoint", "introspection_endpoint"])
def test_nul_in_a_back_channel_parameter_is_a_bad_request(provider, world, endpoint):
    response = requests.post(
        provider.endpoint(endpoint),
        data={"grant_type": "refresh_token", "refresh_token": "a\x00b", "token": "a\x00b", "client_id": "a\x00b"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_nul_in_basic_credentials_is_an_unknown_client(provider):
    encoded = base64.b64encode(b"a\x00b:secret").decode()
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {encoded}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_logout_for_an_unknown_client_is_a_clean_error(provider):
    response = requests.get(
        provider.endpoint("end_session_endpoint"), params={"client_id": "no-such-client"}, timeout=10
    )
    assert response.status_code == 400
