from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.oidc.validators import token_family_new

pytestmark = pytest.mark.django_db(transaction=True)

RefreshToken = get_refresh_token_model()


def refresh(provider, client, refresh_token):
    return requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id},
        timeout=10,
    )


def test_refresh_rotates_the_refresh_token(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    refreshed = signed_in.rp.refresh_token(
        provider.endpoint("token_endpoint"), refresh_token=signed_in.token["refresh_token"]
    )
    assert refreshed["refresh_token"] != signed_in.token["refresh_token"]
    assert refreshed["access_token"] != signed_in.token["access_token"]
    assert set(refreshed["scope"].split()) == {"openid", "profile", "email"}
    # The new access token works; the one it replaced does not.
    userinfo = provider.endpoint("userinfo_endpoint")
    assert requests.get(userinfo, headers={"Authorization": f"Bearer {refreshed['access_token']}"}, timeout=10).ok
    old = requests.get(userinfo, headers={"Authorization": f"Bearer {signed_in.token['access_token']}"}, timeout=10)
    assert old.status_code == 401


def test_replayed_refresh_token_revokes_the_whole_family(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    first = signed_in.token["refresh_token"]
    second = refresh(provider, world.acme.app, first).json()
    assert "refresh_token" in second

    replay = refresh(provider, world.acme.app, first)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The thief's replay also ends the legitimate holder's session.
    assert refresh(provider, world.acme.app, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()
    assert not get_access_token_model().objects.filter(user=world.alice).exists()


def test_refresh_token_of_another_client_is_refused(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    response = refresh(provider, world.bolt.app, signed_in.token["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_lifetime_is_absolute_across_rotations(provider, world, sign_in, settings):
    signed_in = sign_in(world.acme.app, world.alice)
    latest = refresh(provider, world.acme.app, signed_in.token["refresh_token"]).json()["refresh_token"]
    # The sign-in began 31 days ago; the latest token of its family was made just now.
    family_start = timezone.now() - timedelta(days=31)
    first = RefreshToken.objects.filter(user=world.alice).order_by("id").first()
    RefreshToken.objects.filter(pk=first.pk).update(created=family_start)
    # A family's name records when it began (accounts.oidc.validators.token_family_new).
    family = RefreshToken.objects.filter(token_family=first.token_family)
    family.update(token_family=token_family_new(at=family_start))
    response = refresh(provider, world.acme.app, latest)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_does_not_reissue_an_id_token(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    refreshed = refresh(provider, world.acme.app, signed_in.token["refresh_token"]).json()
    assert "id_token" not in refreshed
