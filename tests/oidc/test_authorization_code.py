import re
import time

import pytest
import requests
from allauth.account.models import EmailAddress
from authlib.oidc.core import CodeIDToken

from accounts.models import Membership
from accounts.oidc.claims import subject_for
from tenants.services import tenant_config_update

from .conftest import query_of, relying_party

pytestmark = pytest.mark.django_db(transaction=True)


def validated_id_token(provider, signed_in, client) -> CodeIDToken:
    """Authlib's own checks of a code-flow ID token: iss, aud, exp, iat, nonce, at_hash."""
    decoded = provider.decode(signed_in.token["id_token"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": client.client_id},
        },
        params={
            "nonce": signed_in.nonce,
            "client_id": client.client_id,
            "access_token": signed_in.token["access_token"],
        },
    )
    claims.validate()
    return claims


def test_public_app_signs_a_user_in_with_pkce(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    token = signed_in.token
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"openid", "profile", "email"}
    assert token["refresh_token"] and token["id_token"]


def test_id_token_verifies_against_the_jwks(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    claims = validated_id_token(provider, signed_in, world.acme.app)
    header = provider.decode(signed_in.token["id_token"]).header
    assert header["alg"] == "RS256"
    assert header["kid"] in {
        key["kid"] for key in requests.get(provider.endpoint("jwks_uri"), timeout=10).json()["keys"]
    }
    assert claims["sub"] == str(world.alice.uuid)
    assert claims["at_hash"]
    assert claims["iat"] <= time.time() + 1 < claims["exp"]
    assert abs(claims["auth_time"] - time.time()) < 60
    # Profile claims are userinfo's to give (Core 5.4): the ID token says who, not what.
    assert "email" not in claims and "given_name" not in claims


def test_userinfo_gives_the_claims_the_scopes_allow(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice, scope="openid email")
    for method in ("GET", "POST"):
        response = signed_in.rp.request(method, provider.endpoint("userinfo_endpoint"))
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.json() == {"sub": str(world.alice.uuid), "email": "alice@example.org", "email_verified": False}


def test_userinfo_with_profile_and_address(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice, scope="openid profile")
    userinfo = signed_in.rp.get(provider.endpoint("userinfo_endpoint")).json()
    assert userinfo["given_name"] == "Alice" and userinfo["family_name"] == "Archer"
    assert userinfo["name"] == "Alice Archer"
    assert isinstance(userinfo["updated_at"], int)
    assert "email" not in userinfo and "address" not in userinfo


def test_userinfo_refuses_a_missing_or_unknown_token(provider):
    assert requests.get(provider.endpoint("userinfo_endpoint"), timeout=10).status_code == 401
    response = requests.get(
        provider.endpoint("userinfo_endpoint"), headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_id_token_is_no_access_token_at_userinfo(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    response = requests.get(
        provider.endpoint("userinfo_endpoint"),
        headers={"Authorization": f"Bearer {signed_in.token['id_token']}"},
        timeout=10,
    )
    assert response.status_code == 401


def test_pairwise_tenant_sees_its_own_stable_subject(provider, world, sign_in, actor):
    tenant_config_update(actor=actor, tenant=world.bolt.tenant, config={"subject_type": "pairwise"}, partial=True)
    first = sign_in(world.bolt.app, world.alice)
    second = sign_in(world.bolt.app, world.alice)
    subject = provider.decode(first.token["id_token"]).claims["sub"]
    assert subject == provider.decode(second.token["id_token"]).claims["sub"]
    assert subject == subject_for(user=world.alice, tenant=world.bolt.tenant)
    assert subject != str(world.alice.uuid)
    assert first.rp.get(provider.endpoint("userinfo_endpoint")).json()["sub"] == subject
    # Acme keeps the public uuid.
    assert provider.decode(sign_in(world.acme.app, world.alice).token["id_token"]).claims["sub"] == str(
        world.alice.uuid
    )


def test_signing_in_links_the_user_to_the_tenant(provider, world, sign_in):
    assert not Membership.all_tenants.filter(tenant=world.bolt.tenant, user=world.carol).exists()
    sign_in(world.bolt.app, world.carol)
    membership = Membership.all_tenants.get(tenant=world.bolt.tenant, user=world.carol)
    assert membership.source == Membership.Source.SIGN_IN


def test_confidential_sign_in_client_authenticates_at_the_token_endpoint(provider, world, sign_in, make_client):
    client, secret = make_client(
        world.acme.tenant,
        client_type="confidential",
        grant_type="authorization-code",
        redirect_uris=["https://portal.acme.example/callback"],
        allowed_scopes=["openid", "email"],
    )
    signed_in = sign_in(client, world.alice, secret=secret, scope="openid email")
    assert validated_id_token(provider, signed_in, client)["sub"] == str(world.alice.uuid)


def authorization_error(provider, browser, client, user, scope) -> dict[str, str]:
    rp = relying_party(client, scope=scope)
    url, state = rp.create_authorization_url(provider.endpoint("authorization_endpoint"), code_verifier="v" * 50)
    response = browser(user).get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    answer = query_of(response.headers["Location"])
    assert answer["state"] == state and answer["iss"] == provider.issuer
    return answer


def test_scope_the_client_lacks_is_refused(provider, world, browser):
    # The tenant allows address; this client does not.
    answer = authorization_error(provider, browser, world.acme.app, world.alice, "openid address")
    assert answer["error"] == "invalid_scope"
    assert "code" not in answer


def test_scope_the_tenant_withdrew_is_refused(provider, world, browser, actor):
    tenant_config_update(
        actor=actor, tenant=world.acme.tenant, config={"allowed_scopes": ["openid", "profile"]}, partial=True
    )
    answer = authorization_error(provider, browser, world.acme.app, world.alice, "openid email")
    assert answer["error"] == "invalid_scope"


def test_password_sign_in_through_allauth_is_recorded_in_the_id_token(provider, world, make_user):
    user = make_user("dora@example.org", password="a long and unusual passphrase")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    with requests.Session() as session, relying_party(world.acme.app) as rp:
        login_page = session.get(f"{provider.issuer}/accounts/login/", timeout=10)
        assert login_page.status_code == 200
        response = session.post(
            f"{provider.issuer}/accounts/login/",
            data={"login": user.email, "password": "a long and unusual passphrase"},
            headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{provider.issuer}/accounts/login/"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text[:300]

        verifier = "v" * 64
        url, _ = rp.create_authorization_url(
            provider.endpoint("authorization_endpoint"), code_verifier=verifier, nonce="n-1"
        )
        redirect = session.get(url, allow_redirects=False, timeout=10)
        token = rp.fetch_token(
            provider.endpoint("token_endpoint"),
            authorization_response=redirect.headers["Location"],
            code_verifier=verifier,
        )
        claims = provider.decode(token["id_token"]).claims
        assert claims["amr"] == ["pwd"]
        assert abs(claims["auth_time"] - time.time()) < 60
        assert claims["nonce"] == "n-1"


def test_third_party_app_asks_the_user_before_signing_them_in(provider, world, browser, make_client):
    client, _ = make_client(
        world.acme.tenant, public=True, redirect_uris=["https://partner.example/callback"], first_party=False
    )
    session = browser(world.alice)
    with relying_party(client, scope="openid email") as rp:
        verifier = "v" * 64
        url, state = rp.create_authorization_url(provider.endpoint("authorization_endpoint"), code_verifier=verifier)
        page = session.get(url, allow_redirects=False, timeout=10)
        assert page.status_code == 200
        assert "Your email address" in page.text  # the scope the user is asked about
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        answer = session.post(
            url,
            data={**form, "allow": "Authorize"},
            headers={"X-CSRFToken": session.cookies["csrftoken"]},
            timeout=10,
            allow_redirects=False,
        )
        assert answer.status_code == 303  # the client's page is fetched, never the form re-posted
        assert query_of(answer.headers["Location"])["state"] == state
        token = rp.fetch_token(
            provider.endpoint("token_endpoint"),
            authorization_response=answer.headers["Location"],
            code_verifier=verifier,
        )
    assert set(token["scope"].split()) == {"openid", "email"}
