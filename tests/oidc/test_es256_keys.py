"""ES256 signing keys: JWT access tokens a tenant chose to have signed with ECDSA P-256,
checked as a resource server would, with joserfc against the hub's JWKS (decision 21)."""

import base64
import json
import time
from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey

from accounts.oidc.jwt_tokens import access_token_sign
from harbourmaster.actors import Actor
from tenants.config import TenantConfigInvalid, config_validate
from tenants.keys import signing_key_current, signing_key_rotate, signing_keys_published
from tenants.models import SigningKey
from tenants.services import tenant_config_update

from .conftest import Provider
from .test_jwt_access_tokens import api_get, fetch_token

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR = Actor.system("tests")
ES256, RS256 = SigningKey.Algorithm.ES256, SigningKey.Algorithm.RS256


@pytest.fixture
def es256_key(db) -> SigningKey:
    """An ES256 key that signs at once (as an operator would after publishing one ahead)."""
    return signing_key_rotate(actor=OPERATOR, algorithm=ES256, publish_ahead=timedelta(0))


@pytest.fixture
def es256_tenant(world, actor, es256_key):
    config = {"access_token_format": "jwt", "access_token_signing_alg": "ES256"}
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config=config, partial=True)
    return world.acme


def jwks(provider: Provider) -> list[dict]:
    return requests.get(provider.endpoint("jwks_uri"), timeout=10).json()["keys"]


def header_of(token: str) -> dict:
    encoded = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def resource_server_check(provider: Provider, token: str, algorithm: str = "ES256") -> jwt.Token:
    """Only the JWKS, and only the algorithm the resource server expects."""
    decoded = jwt.decode(token, provider.keys(), algorithms=[algorithm])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.issuer},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    return decoded


def test_an_es256_tenants_access_tokens_verify_against_the_jwks(provider, es256_tenant, es256_key):
    token = fetch_token(provider, es256_tenant)["access_token"]
    decoded = resource_server_check(provider, token)
    assert decoded.header == {"alg": "ES256", "kid": es256_key.kid, "typ": "at+jwt"}
    assert decoded.claims["client_id"] == es256_tenant.backend.client_id
    with pytest.raises(JoseError):
        jwt.decode(token, provider.keys(), algorithms=["RS256"])  # it is not an RSA signature
    assert api_get(provider, token).status_code == 200


def test_the_jwks_publishes_both_kinds_of_key(provider, es256_key):
    rsa = signing_key_current()
    published = {key["kid"]: key for key in jwks(provider)}
    assert set(published) == {rsa.kid, es256_key.kid}
    assert {name: published[es256_key.kid][name] for name in ("kty", "crv", "alg", "use")} == {
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
    }
    assert (published[rsa.kid]["kty"], published[rsa.kid]["alg"], published[rsa.kid]["use"]) == ("RSA", "RS256", "sig")
    assert not any(private in key for key in published.values() for private in ("d", "p", "q"))


def test_a_tampered_es256_token_is_refused_by_the_api(provider, es256_tenant):
    token = fetch_token(provider, es256_tenant)["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "users:read users:write"
    widened = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert api_get(provider, f"{header}.{widened}.{signature}").status_code == 401
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert api_get(provider, f"{header}.{payload}.{flipped}").status_code == 401
    assert api_get(provider, token).status_code == 200


def test_a_token_signed_by_a_stranger_under_our_kid_is_refused(provider, es256_tenant, es256_key):
    token = fetch_token(provider, es256_tenant)["access_token"]
    claims = resource_server_check(provider, token).claims
    stranger = ECKey.generate_key("P-256")
    forged = jwt.encode({"alg": "ES256", "kid": es256_key.kid, "typ": "at+jwt"}, claims, stranger)
    assert api_get(provider, forged).status_code == 401


def test_a_header_naming_another_algorithm_than_the_key_is_refused(provider, es256_tenant, es256_key):
    # The same claims, HMAC-signed with the public key's bytes as the secret: the classic
    # confusion attack. The key decides the algorithm, so it never gets near a verifier.
    token = fetch_token(provider, es256_tenant)["access_token"]
    payload = token.split(".")[1]
    header = {"alg": "HS256", "kid": es256_key.kid, "typ": "at+jwt"}
    public = json.dumps(next(key for key in jwks(provider) if key["kid"] == es256_key.kid)).encode()
    forged = jws.serialize_compact(
        header, base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), OctKey.import_key(public)
    )
    assert api_get(provider, forged).status_code == 401


def test_id_tokens_stay_rs256_for_an_es256_tenant(provider, world, es256_tenant, sign_in):
    signed_in = sign_in(es256_tenant.app, world.alice)
    assert header_of(signed_in.token["id_token"])["alg"] == "RS256"
    assert provider.decode(signed_in.token["id_token"]).claims["aud"] == es256_tenant.app.client_id
    # Its access token is the tenant's choice: ES256, for a resource server to check.
    assert resource_server_check(provider, signed_in.token["access_token"]).header["alg"] == "ES256"
    assert provider.metadata["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_first_es256_key_is_published_ahead_and_rs256_signs_meanwhile(provider, world, actor):
    config = {"access_token_format": "jwt", "access_token_signing_alg": "ES256"}
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config=config, partial=True)
    token = fetch_token(provider, world.acme)["access_token"]

    assert resource_server_check(provider, token, algorithm="RS256").header["alg"] == "RS256"
    upcoming = SigningKey.objects.get(algorithm=ES256)
    assert upcoming.activated_at > timezone.now() + timedelta(minutes=59)
    assert upcoming.kid in {key["kid"] for key in jwks(provider)}  # published before it signs
    assert signing_key_current(ES256).algorithm == RS256
    assert SigningKey.objects.filter(algorithm=ES256).count() == 1  # asking again makes no second one


def test_rotating_one_algorithm_leaves_the_other_alone(db, es256_key):
    rsa = signing_key_current()
    new_ec = signing_key_rotate(actor=OPERATOR, algorithm=ES256, publish_ahead=timedelta(0))
    rsa.refresh_from_db()
    es256_key.refresh_from_db()
    assert rsa.retired_at is None and signing_key_current() == rsa
    assert es256_key.retired_at == new_ec.activated_at
    assert signing_key_current(ES256) == new_ec
    new_rsa = signing_key_rotate(actor=OPERATOR, publish_ahead=timedelta(0))
    new_ec.refresh_from_db()
    assert new_ec.retired_at is None and signing_key_current() == new_rsa
    # Retired keys of both kinds stay published until their tokens have expired.
    assert {es256_key, rsa, new_ec, new_rsa} <= set(signing_keys_published())
    gone_at = es256_key.retired_at + timedelta(seconds=3600 + 60)
    assert es256_key not in signing_keys_published(at=gone_at)
    assert new_ec in signing_keys_published(at=gone_at)


def test_the_rotate_command_takes_an_algorithm(db, es256_key):
    out = StringIO()
    call_command("rotate_signing_key", "--algorithm", "ES256", stdout=out)
    new = SigningKey.objects.order_by("-id").first()
    assert new.algorithm == ES256 and new.kid in out.getvalue() and "ES256" in out.getvalue()
    assert new.activated_at > timezone.now() + timedelta(minutes=59)
    assert signing_key_current(ES256) == es256_key  # still signing until the new one starts
    with pytest.raises(Exception, match="invalid choice"):
        call_command("rotate_signing_key", "--algorithm", "HS256", stdout=StringIO())


def test_a_process_switches_to_the_new_key_the_moment_the_old_one_retires(db, es256_key):
    new = signing_key_rotate(actor=OPERATOR, algorithm=ES256, publish_ahead=timedelta(seconds=1))
    before = access_token_sign({"jti": "1"}, algorithm=ES256)  # reads the old key, retiring in 1 s
    time.sleep(max(0.0, (new.activated_at - timezone.now()).total_seconds()) + 0.05)
    after = access_token_sign({"jti": "2"}, algorithm=ES256)  # no signing_key_forget in between
    assert header_of(before)["kid"] == es256_key.kid
    assert header_of(after)["kid"] == new.kid


def test_es256_needs_jwt_access_tokens_and_only_known_algorithms_are_taken():
    assert config_validate({"access_token_format": "jwt", "access_token_signing_alg": "ES256"})
    assert config_validate({"access_token_signing_alg": "RS256"})
    with pytest.raises(TenantConfigInvalid) as opaque:
        config_validate({"access_token_signing_alg": "ES256"})
    assert [error.path for error in opaque.value.errors] == ["/access_token_signing_alg"]
    for refused in ("HS256", "none", "es256"):
        with pytest.raises(TenantConfigInvalid):
            config_validate({"access_token_format": "jwt", "access_token_signing_alg": refused})
