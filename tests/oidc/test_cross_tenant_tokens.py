"""Bolt's clients against Acme's tokens: introspection, revocation and userinfo.

Whatever Bolt sends, Acme's tokens stay as they were and Bolt learns nothing about them:
introspection answers ``{"active": false}`` (RFC 7662, 2.2), revocation answers 200 and
revokes nothing (RFC 7009, 2.1-2.2), and userinfo gives each tenant its own view of a
user. Each refusal is checked by using the token afterwards, and next to it the owner
sends the same request and gets the opposite answer, so the request itself is sound.
Driven with Django's client.
"""

import json

import pytest

from tenants.services import tenant_suspend
from tests.oidc.test_claims_parameter import payload_of, refreshed, sign_in_with, userinfo
from tests.test_signin_policy import configure

SIGN_IN_SCOPES = "openid profile email"


def client_credentials(tenant_world) -> dict:
    """client_secret_post for the tenant's confidential backend client."""
    return {"client_id": tenant_world.backend.client_id, "client_secret": tenant_world.backend_secret}


def machine_token(client, tenant_world) -> str:
    answer = client.post("/o/token/", {"grant_type": "client_credentials", **client_credentials(tenant_world)})
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


def introspect(client, tenant_world, token: str) -> dict:
    answer = client.post("/o/introspect/", {"token": token, **client_credentials(tenant_world)})
    assert answer.status_code == 200, answer.content
    return answer.json()


def revoke(client, token: str, *, hint: str, as_client: dict) -> None:
    answer = client.post("/o/revoke_token/", {"token": token, "token_type_hint": hint, **as_client})
    assert answer.status_code == 200, answer.content  # RFC 7009, 2.2: whatever the token was


def refresh_status(client, app, refresh_token: str) -> int:
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id}
    return client.post("/o/token/", body).status_code


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- Introspection of a JWT access token ------------------------------------------------------


@pytest.fixture
def acme_issues_jwts(world):
    configure(world.acme.tenant, access_token_format="jwt")
    return world.acme


def test_another_tenants_client_learns_nothing_of_a_jwt_access_token(client, world, acme_issues_jwts):
    signed_in = sign_in_with(client, world.acme.app, world.alice, scope=SIGN_IN_SCOPES)
    tokens = {"sign-in": signed_in["access_token"], "machine": machine_token(client, world.acme)}
    assert payload_of(tokens["sign-in"])["client_id"] == world.acme.app.client_id  # a JWT, readable by anyone
    assert payload_of(tokens["machine"])["client_id"] == world.acme.backend.client_id

    for kind, token in tokens.items():
        # Exactly this: no scope, client, sub or times of Acme's token (RFC 7662, 2.2).
        assert introspect(client, world.bolt, token) == {"active": False}, kind

    # Acme's own backend sees the same tokens live, with the user as Acme knows them.
    own = introspect(client, world.acme, tokens["sign-in"])
    assert own["active"] is True
    assert own["client_id"] == world.acme.app.client_id
    assert own["sub"] == str(world.alice.uuid)
    assert introspect(client, world.acme, tokens["machine"])["client_id"] == world.acme.backend.client_id


# --- Revocation by another tenant's client ----------------------------------------------------


@pytest.mark.parametrize("intruder", ["backend", "app"])
def test_another_tenants_client_cannot_revoke_a_refresh_token(client, world, intruder):
    # Bolt's backend authenticates with its secret; its public app names only its client_id.
    as_bolt = client_credentials(world.bolt) if intruder == "backend" else {"client_id": world.bolt.app.client_id}
    first = sign_in_with(client, world.acme.app, world.alice, scope=SIGN_IN_SCOPES)

    revoke(client, first["refresh_token"], hint="refresh_token", as_client=as_bolt)

    second = refreshed(client, world.acme.app, first)  # still good: Acme's app rotates it
    assert userinfo(client, second["access_token"])["sub"] == str(world.alice.uuid)
    # The same request from Acme's own app does revoke.
    revoke(client, second["refresh_token"], hint="refresh_token", as_client={"client_id": world.acme.app.client_id})
    assert refresh_status(client, world.acme.app, second["refresh_token"]) == 400


def test_another_tenants_client_cannot_revoke_a_sign_in_access_token(client, world):
    signed_in = sign_in_with(client, world.acme.app, world.alice, scope=SIGN_IN_SCOPES)

    revoke(client, signed_in["access_token"], hint="access_token", as_client=client_credentials(world.bolt))

    assert client.get("/o/userinfo/", **bearer(signed_in["access_token"])).status_code == 200
    assert introspect(client, world.acme, signed_in["access_token"])["active"] is True
    # The same request from Acme's own app does revoke, and its refresh token with it.
    revoke(client, signed_in["access_token"], hint="access_token", as_client={"client_id": world.acme.app.client_id})
    assert client.get("/o/userinfo/", **bearer(signed_in["access_token"])).status_code == 401
    assert refresh_status(client, world.acme.app, signed_in["refresh_token"]) == 400


def test_another_tenants_client_cannot_revoke_a_machine_access_token(client, world):
    token = machine_token(client, world.acme)
    assert client.get("/api/v1/purposes", **bearer(token)).status_code == 200  # cached as it is used

    revoke(client, token, hint="access_token", as_client=client_credentials(world.bolt))

    assert client.get("/api/v1/purposes", **bearer(token)).status_code == 200
    assert introspect(client, world.acme, token)["active"] is True
    # The same request from Acme's backend does revoke.
    revoke(client, token, hint="access_token", as_client=client_credentials(world.acme))
    assert client.get("/api/v1/purposes", **bearer(token)).status_code == 401


# --- Userinfo: each tenant's own view ---------------------------------------------------------


@pytest.fixture
def bolt_pairwise_without_profile(world):
    """Bolt: pairwise subjects, and neither profile nor address for any of its clients."""
    configure(world.bolt.tenant, subject_type="pairwise", allowed_scopes=["openid", "email"])
    return world.bolt


def test_userinfo_answers_with_the_tenant_of_the_tokens_client(client, world, bolt_pairwise_without_profile):
    asked = json.dumps({"userinfo": {"given_name": None, "address": None}})
    at_bolt = sign_in_with(client, world.bolt.app, world.alice, scope="openid email", claims=asked)
    at_acme = sign_in_with(client, world.acme.app, world.alice, scope=SIGN_IN_SCOPES)

    bolt_view = userinfo(client, at_bolt["access_token"])
    acme_view = userinfo(client, at_acme["access_token"])

    # Bolt's own pairwise sub, and only what Bolt's scopes cover: the claims parameter
    # cannot reach past them to the profile and address Acme may see.
    assert bolt_view == {"sub": bolt_view["sub"], "email": "alice@example.org", "email_verified": False}
    assert bolt_view["sub"] not in (str(world.alice.uuid), acme_view["sub"])
    assert payload_of(at_bolt["id_token"])["sub"] == bolt_view["sub"]
    assert acme_view["sub"] == str(world.alice.uuid)
    assert (acme_view["given_name"], acme_view["family_name"]) == ("Alice", "Archer")
    # The same user at Bolt again: the same sub, so Bolt can recognise her, and only Bolt.
    again = sign_in_with(client, world.bolt.app, world.alice, scope="openid email")
    assert userinfo(client, again["access_token"])["sub"] == bolt_view["sub"]


def test_a_pairwise_tenant_gives_each_user_their_own_sub(client, world, bolt_pairwise_without_profile):
    alice = userinfo(client, sign_in_with(client, world.bolt.app, world.alice, scope="openid")["access_token"])
    bob = userinfo(client, sign_in_with(client, world.bolt.app, world.bob, scope="openid")["access_token"])
    assert alice["sub"] != bob["sub"]
    assert str(world.bob.uuid) != bob["sub"]


def test_userinfo_refuses_a_revoked_token(client, world):
    signed_in = sign_in_with(client, world.acme.app, world.alice, scope=SIGN_IN_SCOPES)
    assert client.get("/o/userinfo/", **bearer(signed_in["access_token"])).status_code == 200

    revoke(client, signed_in["access_token"], hint="access_token", as_client={"client_id": world.acme.app.client_id})

    answer = client.get("/o/userinfo/", **bearer(signed_in["access_token"]))
    assert answer.status_code == 401
    assert "alice" not in answer.content.decode().lower()


def test_userinfo_refuses_another_tenants_machine_token(client, world):
    """A client-credentials token speaks for no user: it gets no user's claims at all."""
    answer = client.get("/o/userinfo/", **bearer(machine_token(client, world.bolt)))
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer["WWW-Authenticate"]  # RFC 6750, 3


def test_a_suspended_tenants_tokens_stop_at_userinfo_and_the_others_do_not(client, world, actor):
    at_acme = sign_in_with(client, world.acme.app, world.alice, scope=SIGN_IN_SCOPES)
    at_bolt = sign_in_with(client, world.bolt.app, world.alice, scope="openid email")

    tenant_suspend(actor=actor, tenant=world.acme.tenant)

    assert client.get("/o/userinfo/", **bearer(at_acme["access_token"])).status_code == 401
    assert userinfo(client, at_bolt["access_token"])["email"] == "alice@example.org"


def test_a_tenant_that_narrows_its_scopes_is_obeyed_at_userinfo_at_once(client, world):
    signed_in = sign_in_with(client, world.bolt.app, world.alice, scope=SIGN_IN_SCOPES)
    assert userinfo(client, signed_in["access_token"])["given_name"] == "Alice"

    configure(world.bolt.tenant, allowed_scopes=["openid", "email"])

    assert "given_name" not in userinfo(client, signed_in["access_token"])
