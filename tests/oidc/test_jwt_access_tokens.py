"""JWT access tokens (RFC 9068) for a tenant that asks for them, checked the way a
resource server would: Authlib fetches them, joserfc verifies them against the JWKS."""

import hashlib
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tenants.services import client_disable, tenant_config_update

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jwt_tenant(world, actor):
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config={"access_token_format": "jwt"}, partial=True)
    return world.acme


def fetch_token(provider, tenant_world) -> dict:
    session = OAuth2Session(tenant_world.backend.client_id, tenant_world.backend_secret)
    return dict(session.fetch_token(provider.endpoint("token_endpoint"), grant_type="client_credentials"))


def resource_server_check(provider, token: str) -> jwt.Token:
    """What a resource server does with the JWKS alone."""
    keys = KeySet.import_key_set(requests.get(provider.endpoint("jwks_uri"), timeout=10).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.issuer},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    return decoded


def api_get(provider, token: str):
    return requests.get(f"{provider.issuer}/api/v1/purposes", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def introspect(provider, tenant_world, token: str) -> dict:
    response = requests.post(
        provider.endpoint("introspection_endpoint"),
        data={"token": token},
        auth=(tenant_world.backend.client_id, tenant_world.backend_secret),
        timeout=10,
    )
    return response.json()


def revocation_list(provider) -> dict:
    response = requests.get(f"{provider.issuer}/o/revoked-tokens/", timeout=10)
    assert response.status_code == 200
    return response.json()


def test_a_tenant_that_asks_gets_jwt_access_tokens_a_resource_server_can_verify(provider, jwt_tenant):
    token = fetch_token(provider, jwt_tenant)
    decoded = resource_server_check(provider, token["access_token"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["client_id"] == claims["sub"] == jwt_tenant.backend.client_id
    assert claims["scope"] == token["scope"] == "users:read"
    assert claims["exp"] - claims["iat"] == token["expires_in"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert fetch_token(provider, jwt_tenant)["access_token"] != token["access_token"]


def token_for_another_resource(provider, tenant_world):
    """A client-credentials JWT asked for one API (RFC 8707), and its claims as signed."""
    session = OAuth2Session(tenant_world.backend.client_id, tenant_world.backend_secret)
    token = session.fetch_token(
        provider.endpoint("token_endpoint"), grant_type="client_credentials", resource="https://api.acme.example/"
    )["access_token"]
    keys = KeySet.import_key_set(requests.get(provider.endpoint("jwks_uri"), timeout=10).json())
    return session, token, jwt.decode(token, keys)


def test_a_jwt_for_one_resource_names_it_as_its_audience(provider, jwt_tenant):
    """RFC 8707 and 9068: aud is the resource asked for, whole, as the token's row keeps it."""
    *_, claims = token_for_another_resource(provider, jwt_tenant)
    assert claims.claims["aud"] == ["https://api.acme.example/"]


def test_tokens_stay_opaque_by_default(provider, world):
    token = fetch_token(provider, world.bolt)["access_token"]
    with pytest.raises((JoseError, ValueError)):
        resource_server_check(provider, token)
    assert api_get(provider, token).status_code == 200


def test_a_jwt_access_token_works_at_the_api_and_at_introspection(provider, jwt_tenant):
    token = fetch_token(provider, jwt_tenant)["access_token"]
    assert api_get(provider, token).status_code == 200
    answer = introspect(provider, jwt_tenant, token)
    assert answer["active"] is True and answer["client_id"] == jwt_tenant.backend.client_id


def test_a_revoked_jwt_is_listed_and_refused_everywhere_at_once(provider, jwt_tenant):
    token = fetch_token(provider, jwt_tenant)["access_token"]
    jti = resource_server_check(provider, token).claims["jti"]
    assert api_get(provider, token).status_code == 200
    session = OAuth2Session(jwt_tenant.backend.client_id, jwt_tenant.backend_secret)
    assert session.revoke_token(provider.endpoint("revocation_endpoint"), token).status_code == 200

    listed = revocation_list(provider)
    assert jti in {entry["jti"] for entry in listed["revoked"]}
    assert api_get(provider, token).status_code == 401
    assert introspect(provider, jwt_tenant, token) == {"active": False}


def test_a_revoked_jwt_for_another_resource_is_listed_too(provider, jwt_tenant):
    """Its audience is that resource, not the hub: the resource servers it names must hear."""
    session, token, claims = token_for_another_resource(provider, jwt_tenant)
    assert session.revoke_token(provider.endpoint("revocation_endpoint"), token).status_code == 200
    assert claims.claims["jti"] in {entry["jti"] for entry in revocation_list(provider)["revoked"]}


def test_another_client_cannot_get_a_jwt_listed(provider, jwt_tenant, world):
    token = fetch_token(provider, jwt_tenant)["access_token"]
    jti = resource_server_check(provider, token).claims["jti"]
    intruder = OAuth2Session(world.bolt.backend.client_id, world.bolt.backend_secret)
    assert intruder.revoke_token(provider.endpoint("revocation_endpoint"), token).status_code == 200
    assert jti not in {entry["jti"] for entry in revocation_list(provider)["revoked"]}
    assert api_get(provider, token).status_code == 200


def test_another_client_cannot_get_a_jwt_for_another_resource_listed(provider, jwt_tenant, world):
    """The same for a JWT asked for another API (RFC 8707), which the hub checks differently."""
    _session, token, claims = token_for_another_resource(provider, jwt_tenant)
    intruder = OAuth2Session(world.bolt.backend.client_id, world.bolt.backend_secret)
    assert intruder.revoke_token(provider.endpoint("revocation_endpoint"), token).status_code == 200
    assert claims.claims["jti"] not in {entry["jti"] for entry in revocation_list(provider)["revoked"]}


def test_a_disabled_clients_jwts_are_refused_and_the_client_is_listed(provider, jwt_tenant, actor):
    token = fetch_token(provider, jwt_tenant)["access_token"]
    # Listed by the SHA-256 of the client_id the resource server reads off the token.
    digest = hashlib.sha256(resource_server_check(provider, token).claims["client_id"].encode()).hexdigest()
    assert digest not in revocation_list(provider)["revoked_client_sha256"]
    client_disable(actor=actor, client=jwt_tenant.backend)
    assert api_get(provider, token).status_code == 401
    listed = revocation_list(provider)
    assert digest in listed["revoked_client_sha256"]
    assert jwt_tenant.backend.client_id not in str(listed)  # strangers read this list too


def test_a_tampered_or_foreign_jwt_is_refused(provider, jwt_tenant):
    token = fetch_token(provider, jwt_tenant)["access_token"]
    header, payload, signature = token.split(".")
    tampered = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    assert api_get(provider, tampered).status_code == 401
    # Signed, but not as an access token: an ID token is no access token.
    assert api_get(provider, forged_unsigned(token)).status_code == 401


def forged_unsigned(token: str) -> str:
    header, payload, _signature = token.split(".")
    return f"{header}.{payload}."


def test_the_public_revocation_list_is_answered_from_the_cache(world, client, django_assert_num_queries):
    """Anyone may ask for it, as often as they like: a repeat costs the database nothing."""
    assert client.get("/o/revoked-tokens/").status_code == 200
    with django_assert_num_queries(0):
        again = client.get("/o/revoked-tokens/")
    assert again.status_code == 200
    assert again.json()["revoked_client_sha256"] == []
