"""A code exchanged twice (RFC 6749, 4.1.2): refused, and what the first exchange bought is revoked."""

import uuid

import pytest
import requests
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauthlib.common import Request as OauthlibRequest
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

from accounts.oidc.validators import HubOAuth2Validator

from .conftest import pkce_pair, query_of, relying_party

pytestmark = pytest.mark.django_db(transaction=True)


def exchange(provider, client, code, verifier):
    return requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uris.split()[0],
        },
        timeout=10,
    )


@pytest.fixture
def issued_code(provider, world, browser):
    """An authorization code for Alice at Acme's app, and its PKCE verifier."""

    def issue() -> tuple[str, str]:
        verifier, _challenge = pkce_pair()
        with relying_party(world.acme.app) as rp:
            url, _state = rp.create_authorization_url(
                provider.endpoint("authorization_endpoint"), code_verifier=verifier
            )
        response = browser(world.alice).get(url, allow_redirects=False, timeout=10)
        return query_of(response.headers["Location"])["code"], verifier

    return issue


def test_a_reused_code_is_refused_and_revokes_the_tokens_it_bought(provider, world, issued_code):
    code, verifier = issued_code()
    first = exchange(provider, world.acme.app, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    userinfo = provider.endpoint("userinfo_endpoint")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(userinfo, headers=bearer, timeout=10).status_code == 200

    second = exchange(provider, world.acme.app, code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert "access_token" not in second.json()
    # Whoever got the first tokens may have stolen the code: they stop working.
    assert requests.get(userinfo, headers=bearer, timeout=10).status_code == 401
    refreshed = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": world.acme.app.client_id,
        },
        timeout=10,
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert not get_access_token_model().objects.filter(user=world.alice).exists()
    assert not get_refresh_token_model().objects.filter(user=world.alice, revoked__isnull=True).exists()


def test_reusing_one_code_leaves_other_sign_ins_alone(provider, world, issued_code):
    code, verifier = issued_code()
    other_code, other_verifier = issued_code()
    other = exchange(provider, world.acme.app, other_code, other_verifier).json()
    assert exchange(provider, world.acme.app, code, verifier).status_code == 200
    assert exchange(provider, world.acme.app, code, verifier).status_code == 400
    bearer = {"Authorization": f"Bearer {other['access_token']}"}
    assert requests.get(provider.endpoint("userinfo_endpoint"), headers=bearer, timeout=10).status_code == 200


def test_the_loser_of_two_simultaneous_exchanges_revokes_both(provider, world, issued_code):
    """Both passed validate_code before either marked the code spent; the second to mark it loses.

    Called directly: two live requests cannot be timed to meet at this point.
    """
    code, verifier = issued_code()
    winner = exchange(provider, world.acme.app, code, verifier).json()
    RefreshToken = get_refresh_token_model()
    winner_family = RefreshToken.objects.get(user=world.alice).token_family
    loser_family = uuid.uuid4()
    RefreshToken.objects.create(user=world.alice, application=world.acme.app, token="loser", token_family=loser_family)
    request = OauthlibRequest("https://hub.example/o/token/")
    request.client, request.claims, request.issued_token_family = world.acme.app, {}, loser_family

    with pytest.raises(InvalidGrantError) as refused:
        HubOAuth2Validator().invalidate_authorization_code(world.acme.app.client_id, code, request)
    # Raised past the grant, so it carries the JSON headers the token response needs itself.
    assert refused.value.headers["Content-Type"] == "application/json"
    assert refused.value.headers["Cache-Control"] == "no-store"
    assert not RefreshToken.objects.filter(
        token_family__in=[winner_family, loser_family], revoked__isnull=True
    ).exists()
    bearer = {"Authorization": f"Bearer {winner['access_token']}"}
    assert requests.get(provider.endpoint("userinfo_endpoint"), headers=bearer, timeout=10).status_code == 401
