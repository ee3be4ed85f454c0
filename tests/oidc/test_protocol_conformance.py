"""What the specs say the provider answers, where it answered otherwise: parameters it does not
take, a token without the scope userinfo needs, the metadata documents, odd values at the
authorization endpoint and mistakes at the token endpoint. As a relying party sees it."""

import json
from urllib.parse import urlsplit

import pytest
import requests

from .conftest import query_of
from .test_bad_input import CALLBACK, authorize, exchange

pytestmark = pytest.mark.django_db(transaction=True)


def refused_at_the_callback(response, error: str) -> dict:
    """The error response at the client's redirect URI, in the query (Core 1.0, 3.1.2.6)."""
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    assert not urlsplit(location).fragment
    answer = query_of(location)
    assert "code" not in answer
    assert answer["error"] == error, answer
    assert answer["state"] == "st"
    return answer


# --- Parameters discovery says are not supported ---------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "value", "error"),
    [
        ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCBlbWFpbCJ9.", "request_not_supported"),
        ("request_uri", "https://app.acme.example/request.jwt", "request_uri_not_supported"),
    ],
)
def test_a_request_object_is_refused_at_the_redirect_uri(provider, world, browser, parameter, value, error):
    assert provider.metadata[f"{parameter}_parameter_supported"] is False
    response, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, **{parameter: value})
    answer = refused_at_the_callback(response, error)
    assert answer["iss"] == provider.issuer


def test_a_request_object_is_refused_also_for_a_client_let_through_without_consent(provider, world, browser):
    """A first-party client skips the consent page: its request goes through a second
    validation, which must not mistake oauthlib's own ``request`` for the parameter."""
    assert world.acme.app.skip_authorization
    response, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id)
    assert "code" in query_of(response.headers["Location"])
    response, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, request="x")
    refused_at_the_callback(response, "request_not_supported")


@pytest.mark.parametrize("mode", ["fragment", "form_post"])
def test_a_response_mode_other_than_query_is_an_invalid_request_answered_in_the_query(provider, world, browser, mode):
    """Discovery lists only ``query``. The hub refuses the others rather than list
    ``fragment``: every client of a code flow reads the query, and answering in the fragment
    would hand the code to script in the client's page instead of its server."""
    assert provider.metadata["response_modes_supported"] == ["query"]
    taken, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, response_mode="query")
    assert "code" in query_of(taken.headers["Location"])
    response, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, response_mode=mode)
    refused_at_the_callback(response, "invalid_request")


# --- Userinfo ---------------------------------------------------------------------------------


def test_userinfo_with_a_live_token_without_openid_is_insufficient_scope(provider, world, browser):
    response, verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, scope="profile")
    code = query_of(response.headers["Location"])["code"]
    token = exchange(provider, world.acme.app.client_id, code, verifier).json()
    assert token["scope"] == "profile"

    answer = requests.get(
        provider.endpoint("userinfo_endpoint"),
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert answer.status_code == 403
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="openid"'
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == "insufficient_scope"


def test_userinfo_with_a_dead_token_is_invalid_token_in_json(provider):
    answer = requests.get(provider.endpoint("userinfo_endpoint"), headers={"Authorization": "Bearer nope"}, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == "invalid_token"


# --- RFC 8414 metadata --------------------------------------------------------------------------


def test_the_oauth_metadata_offers_introspection_only_to_clients_with_a_secret(provider):
    metadata = requests.get(f"{provider.issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    # RFC 8414, 2: left out, it would mean "query and fragment".
    assert metadata["response_modes_supported"] == provider.metadata["response_modes_supported"] == ["query"]
    refused = requests.post(metadata["introspection_endpoint"], data={"token": "x", "client_id": "any"}, timeout=10)
    assert refused.status_code == 401


# --- Odd values at the authorization endpoint ---------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"code_challenge": "c" * 129}, id="code-challenge-longer-than-the-grant-holds"),
        pytest.param({"code_challenge": "c" * 44}, id="code-challenge-no-s256-digest"),
        pytest.param({"max_age": "9" * 5000}, id="max-age-more-digits-than-int-takes"),
        pytest.param({"max_age": "1" * 19}, id="max-age-past-any-sign-in"),
        pytest.param({"claims": "[" * 3000 + "]" * 3000}, id="claims-nested-past-the-parser"),
        pytest.param({"claims": '{"a":' * 2000 + "{}" + "}" * 2000}, id="claims-objects-nested"),
    ],
)
def test_odd_authorization_parameters_are_an_invalid_request_at_the_redirect_uri(provider, world, browser, params):
    response, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, **params)
    refused_at_the_callback(response, "invalid_request")


def test_a_nonce_is_taken_up_to_what_the_grant_holds(provider, world, browser):
    refused, _verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, nonce="n" * 256)
    refused_at_the_callback(refused, "invalid_request")
    nonce = "n" * 255
    response, verifier = authorize(provider, browser(world.alice), world.acme.app.client_id, nonce=nonce)
    code = query_of(response.headers["Location"])["code"]
    id_token = exchange(provider, world.acme.app.client_id, code, verifier).json()["id_token"]
    assert provider.decode(id_token).claims["nonce"] == nonce


# --- The token endpoint ---------------------------------------------------------------------------


def test_a_parameter_sent_twice_at_the_token_endpoint_is_an_invalid_request_but_resource_may_be(provider, world):
    def token_response(*repeated):
        return requests.post(
            provider.endpoint("token_endpoint"),
            data=[("grant_type", "client_credentials"), *repeated],
            auth=(world.acme.backend.client_id, world.acme.backend_secret),
            timeout=10,
        )

    response = token_response(("scope", "users:read"), ("scope", "users:read"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
    # RFC 8707, 2: each ``resource`` names one resource.
    response = token_response(("resource", "https://api.acme.example/"), ("resource", "https://files.acme.example/"))
    assert response.status_code == 200, response.text


def test_two_client_ids_in_one_token_request_is_an_invalid_request(provider, world):
    def token_response(body_client_id: str):
        return requests.post(
            provider.endpoint("token_endpoint"),
            data={"grant_type": "client_credentials", "client_id": body_client_id},
            auth=(world.acme.backend.client_id, world.acme.backend_secret),
            timeout=10,
        )

    response = token_response(world.bolt.backend.client_id)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert token_response(world.acme.backend.client_id).status_code == 200  # the same client, twice


@pytest.mark.parametrize(
    ("endpoint", "data"),
    [("token_endpoint", {"grant_type": "client_credentials"}), ("revocation_endpoint", {"token": "x"})],
)
def test_invalid_client_over_http_basic_is_challenged_with_basic(provider, world, endpoint, data):
    """RFC 6749, 5.2: the challenge matches the scheme the client used."""
    response = requests.post(
        provider.endpoint(endpoint), data=data, auth=(world.acme.backend.client_id, "wrong"), timeout=10
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_a_refresh_naming_a_scope_twice_is_granted_it_once(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice, scope="openid profile")
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": signed_in.token["refresh_token"],
            "client_id": world.acme.app.client_id,
            "scope": "openid openid",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid"
    refreshed = requests.get(
        provider.endpoint("userinfo_endpoint"),
        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        timeout=10,
    )
    assert json.loads(refreshed.content)["sub"]
