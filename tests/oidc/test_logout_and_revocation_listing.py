"""RP-initiated logout ends the browser's own hub session and nothing else (decision 19,
amendment), and a sign-in the hub ends on its own account (a reused code, a revoked or a
replayed refresh token) ends its JWT access token at resource servers too (decision 27,
amendment). The resource server is played from the JWKS and the revocation list alone,
read with its tenant's credentials; the apps are Authlib against the live server."""

import time

import pytest
import requests

from . import test_logout
from .conftest import pkce_pair, query_of, relying_party
from .test_code_reuse import exchange
from .test_jwt_subject_revocation import after_second, jwt_tenants, resource_server_accepts

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["jwt_tenants", "portal"]  # fixtures, used by name
LOGGED_OUT = test_logout.LOGGED_OUT

portal = test_logout.portal  # Acme's portal app, with its logged-out page registered


def userinfo_status(provider, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(provider.endpoint("userinfo_endpoint"), headers=headers, timeout=10).status_code


def refreshed(provider, client, refresh_token: str) -> requests.Response:
    return requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id},
        timeout=10,
    )


def still_signed_in(provider, client, signed_in) -> bool:
    """What the app sees: its access token answers at userinfo and its refresh token refreshes."""
    return (
        userinfo_status(provider, signed_in.token["access_token"]) == 200
        and refreshed(provider, client, signed_in.token["refresh_token"]).status_code == 200
    )


def log_out(session, provider, params: dict) -> requests.Response:
    """RP-initiated logout as a browser does it: the page, then its confirmation if it asks."""
    endpoint = provider.endpoint("end_session_endpoint")
    page = session.get(endpoint, params=params, allow_redirects=False, timeout=10)
    if page.status_code != 200:
        return page
    assert 'id="authorizationForm"' in page.text
    confirmation = {**params, "allow": "on", "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    return session.post(endpoint, data=confirmation, allow_redirects=False, timeout=10)


def asked_to_sign_in(session, provider) -> bool:
    again = session.get(provider.endpoint("authorization_endpoint"), allow_redirects=False, timeout=10)
    return again.status_code == 302 and "/accounts/login/" in again.headers["Location"]


# --- RP-initiated logout --------------------------------------------------------------------


def test_a_stranger_with_an_id_token_ends_no_sign_in_of_its_user(provider, world, portal, sign_in):
    """No hub session, an ID token Acme's portal got: the stranger is sent on, nothing ends."""
    at_portal = sign_in(portal, world.alice)
    at_bolt = sign_in(world.bolt.app, world.alice)

    response = log_out(requests.Session(), provider, {"id_token_hint": at_portal.token["id_token"]})

    assert response.status_code == 302
    assert still_signed_in(provider, portal, at_portal)
    assert still_signed_in(provider, world.bolt.app, at_bolt)


def test_a_stranger_is_still_sent_to_the_registered_post_logout_uri_and_ends_nothing(provider, world, portal, sign_in):
    at_portal = sign_in(portal, world.alice)
    params = {"id_token_hint": at_portal.token["id_token"], "post_logout_redirect_uri": LOGGED_OUT, "state": "s-2"}

    response = log_out(requests.Session(), provider, params)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGGED_OUT)
    assert query_of(response.headers["Location"]) == {"state": "s-2"}
    assert still_signed_in(provider, portal, at_portal)


def test_signing_out_ends_this_browsers_hub_session_and_leaves_the_users_other_sign_ins(
    provider, world, portal, sign_in, browser
):
    """Alice signs out of the portal in one browser; her sign-in at Bolt's app (another
    device) goes on, and so do the portal's tokens: its own sign-out is its app's to make
    (RFC 7009), and the apps this hub session signed in to are told by back-channel logout."""
    at_bolt = sign_in(world.bolt.app, world.alice)
    at_portal = sign_in(portal, world.alice)
    laptop = browser(world.alice)
    params = {"id_token_hint": at_portal.token["id_token"], "post_logout_redirect_uri": LOGGED_OUT}

    response = log_out(laptop, provider, params)

    assert response.status_code == 302 and response.headers["Location"].startswith(LOGGED_OUT)
    assert asked_to_sign_in(laptop, provider)
    assert still_signed_in(provider, world.bolt.app, at_bolt)
    assert still_signed_in(provider, portal, at_portal)


def test_confirming_a_logout_with_someone_elses_id_token_signs_out_only_oneself(
    provider, world, portal, sign_in, browser
):
    """Bob is signed in at the hub and is shown Alice's hint: confirming ends Bob's hub
    session, never Alice's tokens."""
    at_portal = sign_in(portal, world.alice)
    bobs_browser = browser(world.bob)

    response = log_out(bobs_browser, provider, {"id_token_hint": at_portal.token["id_token"]})

    assert response.status_code == 302
    assert asked_to_sign_in(bobs_browser, provider)
    assert still_signed_in(provider, portal, at_portal)


# --- What a resource server learns when the hub ends a sign-in ------------------------------


def issued_code(provider, world, browser) -> tuple[str, str]:
    verifier, _challenge = pkce_pair()
    with relying_party(world.acme.app) as rp:
        url, _state = rp.create_authorization_url(provider.endpoint("authorization_endpoint"), code_verifier=verifier)
    response = browser(world.alice).get(url, allow_redirects=False, timeout=10)
    return query_of(response.headers["Location"])["code"], verifier


def test_a_reused_code_gets_the_jwt_access_token_it_bought_refused_by_resource_servers(
    provider, jwt_tenants, browser, sign_in
):
    world = jwt_tenants
    at_bolt = sign_in(world.bolt.app, world.alice)
    code, verifier = issued_code(provider, world, browser)
    first = exchange(provider, world.acme.app, code, verifier)
    assert first.status_code == 200
    assert resource_server_accepts(provider, first.json()["access_token"], world.acme)

    second = exchange(provider, world.acme.app, code, verifier)

    assert second.json()["error"] == "invalid_grant"
    assert not resource_server_accepts(provider, first.json()["access_token"], world.acme)
    # Bolt's token of the same person is not Acme's to end.
    assert resource_server_accepts(provider, at_bolt.token["access_token"], world.bolt)
    # Alice signs in again a second after the reuse, and that token is good.
    after_second(int(time.time()))
    again = sign_in(world.acme.app, world.alice)
    assert resource_server_accepts(provider, again.token["access_token"], world.acme)


def revoke(provider, client, token: str, hint: str = "refresh_token") -> requests.Response:
    return requests.post(
        provider.endpoint("revocation_endpoint"),
        data={"token": token, "token_type_hint": hint, "client_id": client.client_id},
        timeout=10,
    )


@pytest.mark.parametrize("tenant", ["acme", "bolt"], ids=["public-sub", "pairwise-sub"])
def test_revoking_a_refresh_token_gets_its_sign_ins_jwt_refused_by_resource_servers(
    provider, jwt_tenants, sign_in, tenant
):
    world = jwt_tenants
    own, other = (world.acme, world.bolt) if tenant == "acme" else (world.bolt, world.acme)
    signed_in = sign_in(own.app, world.alice)
    other_device = sign_in(own.app, world.alice)
    elsewhere = sign_in(other.app, world.alice)
    # RFC 7009, 2.1: another client sending the token (here the other tenant's app) ends
    # nothing and lists nothing.
    assert revoke(provider, other.app, signed_in.token["refresh_token"]).status_code == 200
    assert resource_server_accepts(provider, signed_in.token["access_token"], own)

    assert revoke(provider, own.app, signed_in.token["refresh_token"]).status_code == 200

    assert not resource_server_accepts(provider, signed_in.token["access_token"], own)
    assert resource_server_accepts(provider, elsewhere.token["access_token"], other)
    assert still_signed_in(provider, other.app, elsewhere)
    # The entry names Alice at that app, so her other device's access token there goes too
    # (the hub keeps no jti); its sign-in does not: it refreshes, a second later, and is served.
    assert not resource_server_accepts(provider, other_device.token["access_token"], own)
    after_second(int(time.time()))
    fresh = refreshed(provider, own.app, other_device.token["refresh_token"])
    assert fresh.status_code == 200
    assert resource_server_accepts(provider, fresh.json()["access_token"], own)


def test_a_replayed_refresh_token_gets_the_thiefs_jwt_refused_by_resource_servers(provider, jwt_tenants, sign_in):
    """Theft detection (decisions 25, 30): whoever refreshed first holds a JWT access token;
    the replay of the spent refresh token ends the sign-in, and that JWT with it."""
    world = jwt_tenants
    signed_in = sign_in(world.acme.app, world.alice)
    stolen = refreshed(provider, world.acme.app, signed_in.token["refresh_token"])
    assert stolen.status_code == 200
    assert resource_server_accepts(provider, stolen.json()["access_token"], world.acme)

    replay = refreshed(provider, world.acme.app, signed_in.token["refresh_token"])

    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert userinfo_status(provider, stolen.json()["access_token"]) == 401
    assert not resource_server_accepts(provider, stolen.json()["access_token"], world.acme)
