"""A deactivated account's tokens die with it: no refresh, no userinfo, inactive when
introspected, and a code it got just before cannot be exchanged. The toolkit itself never
asks whether the user is still active."""

import secrets

import pytest
import requests

from accounts.services import user_deactivate
from harbourmaster.actors import Actor

from .conftest import query_of, relying_party
from .test_refresh import refresh
from .test_revocation_and_introspection import introspect

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = Actor.system("tests-staff")


def userinfo(provider, access_token):
    return requests.get(
        provider.endpoint("userinfo_endpoint"), headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )


def test_a_deactivated_users_tokens_stop_working_everywhere(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    bobs = sign_in(world.acme.app, world.bob)
    assert userinfo(provider, signed_in.token["access_token"]).status_code == 200

    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)

    assert userinfo(provider, signed_in.token["access_token"]).status_code == 401
    assert introspect(provider, world.acme, signed_in.token["access_token"]).json() == {"active": False}
    refused = refresh(provider, world.acme.app, signed_in.token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "access_token" not in refused.json()
    # Bob, at the same app, is not touched.
    assert userinfo(provider, bobs.token["access_token"]).status_code == 200
    assert refresh(provider, world.acme.app, bobs.token["refresh_token"]).status_code == 200


def test_reactivating_an_account_does_not_bring_back_its_earlier_sign_ins(provider, world, sign_in):
    """After a compromise staff deactivate, reset and reactivate: the attacker's tokens stay dead."""
    earlier = sign_in(world.acme.app, world.alice)

    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)
    world.alice.is_active = True
    world.alice.save(update_fields=["is_active"])

    refused = refresh(provider, world.acme.app, earlier.token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert userinfo(provider, earlier.token["access_token"]).status_code == 401
    again = sign_in(world.acme.app, world.alice)  # a new sign-in works
    assert refresh(provider, world.acme.app, again.token["refresh_token"]).status_code == 200


def test_a_code_issued_before_deactivation_cannot_be_exchanged(provider, world, browser):
    app = world.acme.app
    rp = relying_party(app)
    verifier = secrets.token_urlsafe(48)
    url, _state = rp.create_authorization_url(
        provider.endpoint("authorization_endpoint"), code_verifier=verifier, nonce="n-1"
    )
    answer = browser(world.alice).get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    code = query_of(answer.headers["Location"])["code"]

    user_deactivate(actor=STAFF, user=world.alice, issuer=provider.issuer)

    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": app.redirect_uris.split()[0],
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()
