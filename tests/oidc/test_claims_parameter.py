"""The ``claims`` request parameter (Core 1.0, 5.5): claims asked for by name, for the ID token
or for userinfo, released only where the client's scopes within its tenant's cover them.

Most tests drive the endpoints with Django's client; the last ones are a relying party
(Authlib) against the live server.
"""

import base64
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth2_provider.models import get_grant_model

from accounts.oidc.models import RequestedUserinfoClaims
from tests.oidc.conftest import query_of, relying_party
from tests.test_signin_policy import VERIFIER, authorize_path, configure, signed_in

PASSWORD_RECORD = {"method": "password", "email": "alice@example.org"}


def claims_parameter(**targets) -> str:
    return json.dumps(targets)


def payload_of(id_token: str) -> dict:
    """The ID token's claims (its signature is checked by the Authlib tests below)."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def code_from(response) -> str:
    assert response.status_code in (302, 303), response.content[:300]
    return parse_qs(urlsplit(response["Location"]).query)["code"][0]


def token_for(client, app, code: str, **extra) -> dict:
    """The code exchanged at the token endpoint (``extra``: more posted parameters)."""
    answer = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": app.redirect_uris.split()[0],
            "client_id": app.client_id,
            "code_verifier": VERIFIER,
            **extra,
        },
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def sign_in_with(client, app, user, **parameters) -> dict:
    """Authorization code + PKCE for a signed-in ``user``; the token response."""
    signed_in(client, user, PASSWORD_RECORD)
    return token_for(client, app, code_from(client.get(authorize_path(app, **parameters))))


def userinfo(client, access_token: str) -> dict:
    answer = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def refreshed(client, app, token: dict) -> dict:
    answer = client.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": app.client_id},
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_claims_asked_for_the_id_token_are_in_it_and_not_in_userinfo(client, world):
    claims = claims_parameter(id_token={"email": None, "given_name": {"essential": True}})
    token = sign_in_with(client, world.acme.app, world.alice, scope="openid", claims=claims)
    id_token = payload_of(token["id_token"])
    assert id_token["email"] == "alice@example.org"
    assert id_token["given_name"] == "Alice"
    assert "family_name" not in id_token  # not asked for
    assert userinfo(client, token["access_token"]) == {"sub": str(world.alice.uuid)}


def test_claims_asked_for_userinfo_are_returned_there_and_not_in_the_id_token(client, world):
    claims = claims_parameter(userinfo={"email": None, "family_name": None})
    token = sign_in_with(client, world.acme.app, world.alice, scope="openid", claims=claims)
    assert userinfo(client, token["access_token"]) == {
        "sub": str(world.alice.uuid),
        "email": "alice@example.org",
        "family_name": "Archer",
    }
    id_token = payload_of(token["id_token"])
    assert "email" not in id_token and "family_name" not in id_token


def test_what_the_scopes_give_stays_and_the_claims_parameter_adds_to_it(client, world):
    claims = claims_parameter(userinfo={"given_name": None})
    token = sign_in_with(client, world.acme.app, world.alice, scope="openid email", claims=claims)
    assert userinfo(client, token["access_token"]) == {
        "sub": str(world.alice.uuid),
        "email": "alice@example.org",
        "email_verified": False,
        "given_name": "Alice",
    }


def test_a_claim_outside_the_scopes_the_client_may_have_is_not_returned(client, world):
    world.alice.phone_number = "+4930123456"
    world.alice.save()
    # phone: not a scope of Acme; address: Acme allows it, but not for this client.
    asked = {"phone_number": {"essential": True}, "address": None, "email": None}
    token = sign_in_with(
        client, world.acme.app, world.alice, scope="openid", claims=json.dumps({"id_token": asked, "userinfo": asked})
    )
    id_token = payload_of(token["id_token"])
    assert "phone_number" not in id_token and "address" not in id_token
    assert id_token["email"] == "alice@example.org"
    assert userinfo(client, token["access_token"]) == {"sub": str(world.alice.uuid), "email": "alice@example.org"}


def test_the_tenants_scopes_are_applied_at_each_userinfo_call(client, world):
    token = sign_in_with(
        client, world.acme.app, world.alice, scope="openid", claims=claims_parameter(userinfo={"email": None})
    )
    assert "email" in userinfo(client, token["access_token"])
    configure(world.acme.tenant, allowed_scopes=["openid", "profile"])
    assert userinfo(client, token["access_token"]) == {"sub": str(world.alice.uuid)}


def test_userinfo_claims_survive_refresh_and_go_with_the_tokens(client, world):
    claims = claims_parameter(userinfo={"email": None, "given_name": None})
    first = sign_in_with(client, world.acme.app, world.alice, scope="openid", claims=claims)
    second = refreshed(client, world.acme.app, first)
    third = refreshed(client, world.acme.app, second)
    expected = {"sub": str(world.alice.uuid), "email": "alice@example.org", "given_name": "Alice"}
    assert userinfo(client, third["access_token"]) == expected
    assert client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}").status_code == 401

    # Another sign-in of the same user and client, without the parameter, gets only the scopes.
    plain = sign_in_with(client, world.acme.app, world.alice, scope="openid")
    assert userinfo(client, plain["access_token"]) == {"sub": str(world.alice.uuid)}
    assert userinfo(client, third["access_token"]) == expected


def test_unknown_members_and_claims_are_ignored(client, world):
    claims = json.dumps(
        {"id_token": {"email": None, "favourite_colour": None}, "userinfo": {"acr": None}, "x-extension": [1]}
    )
    token = sign_in_with(client, world.acme.app, world.alice, scope="openid", claims=claims)
    id_token = payload_of(token["id_token"])
    assert id_token["email"] == "alice@example.org" and "favourite_colour" not in id_token
    assert userinfo(client, token["access_token"]) == {"sub": str(world.alice.uuid)}


@pytest.mark.parametrize(
    "claims",
    [
        "{not json",
        "[]",
        '"a string"',
        '{"userinfo": ["email"]}',
        '{"id_token": {"email": true}}',
        '{"id_token": {"acr": {"essential": "yes"}}}',
        '{"userinfo": {"email": {"values": "x"}}}',
    ],
)
def test_a_malformed_claims_parameter_is_an_invalid_request_at_the_redirect_uri(client, world, claims):
    signed_in(client, world.alice, PASSWORD_RECORD)
    answer = client.get(authorize_path(world.acme.app, claims=claims, acr_values="urn:harbourmaster:acr:2"))
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://app.acme.example/callback?")
    found = query_of(answer["Location"])
    assert found["error"] == "invalid_request" and found["state"] == "s1" and "iss" in found
    assert "code" not in found
    assert not get_grant_model().objects.exists()


def test_the_consent_page_carries_the_claims_parameter_to_the_code(client, world, make_client):
    third_party, _ = make_client(world.acme.tenant, public=True, first_party=False)
    signed_in(client, world.alice, PASSWORD_RECORD)
    path = authorize_path(third_party, scope="openid", claims=claims_parameter(userinfo={"email": None}))
    page = client.get(path)
    assert page.status_code == 200
    fields = dict(page.context["form"].initial)
    answer = client.post(path, {**{k: v for k, v in fields.items() if v is not None}, "allow": "Authorize"})
    token = token_for(client, third_party, code_from(answer))
    assert userinfo(client, token["access_token"])["email"] == "alice@example.org"


def test_a_sign_in_without_the_parameter_stores_no_userinfo_request(client, world):
    sign_in_with(client, world.acme.app, world.alice, scope="openid email")
    assert not RequestedUserinfoClaims.objects.exists()


# --- A relying party with Authlib, against the live server ---------------------------------

pytest_live = pytest.mark.django_db(transaction=True)


def authlib_sign_in(provider, browser, app, user, **parameters):
    rp = relying_party(app, scope="openid")
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, _state = rp.create_authorization_url(
        provider.endpoint("authorization_endpoint"), code_verifier=verifier, nonce=nonce, **parameters
    )
    session = browser(user)
    response = session.get(url, allow_redirects=False, timeout=10)
    return rp, session, response, verifier


@pytest_live
def test_a_relying_party_gets_what_it_asked_for_and_keeps_it_across_refresh(provider, browser, world):
    metadata = provider.metadata
    assert metadata["claims_parameter_supported"] is True
    assert {"sub", "email", "given_name", "address", "acr", "auth_time", "amr"} <= set(metadata["claims_supported"])

    claims = claims_parameter(id_token={"given_name": None}, userinfo={"email": None, "phone_number": None})
    rp, _session, response, verifier = authlib_sign_in(provider, browser, world.acme.app, world.alice, claims=claims)
    with rp:
        assert response.status_code == 302, response.text[:300]
        token = rp.fetch_token(
            provider.endpoint("token_endpoint"),
            authorization_response=response.headers["Location"],
            code_verifier=verifier,
        )
        id_token = provider.decode(token["id_token"]).claims
        assert id_token["given_name"] == "Alice" and "email" not in id_token

        token = rp.refresh_token(provider.endpoint("token_endpoint"), refresh_token=token["refresh_token"])
        answer = rp.get(provider.endpoint("userinfo_endpoint"), timeout=10)
        assert answer.status_code == 200
        assert answer.json() == {"sub": str(world.alice.uuid), "email": "alice@example.org"}


@pytest_live
def test_a_relying_party_sending_bad_json_is_told_at_its_redirect_uri(provider, browser, world):
    rp, _session, response, _verifier = authlib_sign_in(provider, browser, world.acme.app, world.alice, claims="{oops")
    with rp:
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith("https://app.acme.example/callback?")
        assert query_of(location)["error"] == "invalid_request"
        assert "code" not in query_of(location)
    assert not get_grant_model().objects.exists()
