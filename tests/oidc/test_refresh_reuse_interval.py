"""A refresh token used again moments after its rotation (the tenant's
``refresh_token_reuse_interval``, accounts.oidc.reuse_interval, decision 30).

Without an interval a second use ends the sign-in (test_refresh_rotation.py). With one, two
tabs refreshing at once, or a retry whose answer was lost, each get a pair of their own;
anything that looks like theft is still refused as before.
"""

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client as DjangoTestClient
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

import accounts.oidc.validators
from accounts.oidc import rotation
from accounts.oidc.reuse_interval import LIVE_REFRESH_TOKENS_PER_SIGN_IN
from accounts.services import user_sign_out_everywhere
from harbourmaster.actors import Actor
from tenants.config import config_errors
from tests.oidc import test_refresh_rotation
from tests.oidc.test_claims_parameter import sign_in_with, userinfo
from tests.oidc.test_cross_tenant_tokens import introspect
from tests.oidc.test_refresh_rotation import refresh, refused
from tests.test_signin_policy import configure

pytestmark = pytest.mark.django_db

AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
STAFF = Actor.system("tests-staff")
as_on_sqlite = test_refresh_rotation.as_on_sqlite  # the fixture: the toolkit's code serves the refresh


@pytest.fixture
def interval(world):
    configure(world.acme.tenant, refresh_token_reuse_interval=30)
    configure(world.bolt.tenant, refresh_token_reuse_interval=30)


def spent_earlier(raw_token: str, seconds: int) -> None:
    """As if the token had been rotated ``seconds`` earlier than it was."""
    checksum = rotation.token_checksum(raw_token)
    RefreshToken.objects.filter(token_checksum=checksum).update(revoked=F("revoked") - timedelta(seconds=seconds))


def live(world, answer: dict) -> bool:
    """Whether a pair still works: its access token at introspection and its refresh token."""
    active = introspect(world.client, world.acme, answer["access_token"])["active"]
    return active and refresh(world.client, world.acme.app, answer["refresh_token"]).status_code == 200


@pytest.fixture
def world(world, client):
    world.client = client
    return world


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_within_the_interval_a_second_use_gets_a_pair_of_its_own_and_both_live(client, world, interval, token_format):
    configure(world.acme.tenant, access_token_format=token_format)
    first = sign_in_with(client, world.acme.app, world.alice)
    winner = refresh(client, world.acme.app, first["refresh_token"])
    loser = refresh(client, world.acme.app, first["refresh_token"])
    assert winner.status_code == 200 and loser.status_code == 200, loser.content
    winner, loser = winner.json(), loser.json()
    assert loser["access_token"] != winner["access_token"] and loser["refresh_token"] != winner["refresh_token"]
    assert loser["scope"] == winner["scope"] == first["scope"]
    # The same sign-in: the same user and the same family, and the claims asked for at sign-in.
    assert userinfo(client, loser["access_token"]) == userinfo(client, winner["access_token"])
    families = {token.token_family for token in RefreshToken.objects.filter(user=world.alice)}
    assert len(families) == 1
    assert live(world, winner) and live(world, loser)


def test_a_third_use_within_the_interval_is_served_too(client, world, interval):
    first = sign_in_with(client, world.acme.app, world.alice)
    answers = [refresh(client, world.acme.app, first["refresh_token"]) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert len({answer.json()["refresh_token"] for answer in answers}) == 3


def test_one_rotation_leaves_at_most_ten_live_refresh_tokens_and_one_more_use_ends_the_sign_in(client, world, interval):
    first = sign_in_with(client, world.acme.app, world.alice)
    answers = [refresh(client, world.acme.app, first["refresh_token"]) for _ in range(LIVE_REFRESH_TOKENS_PER_SIGN_IN)]
    assert [answer.status_code for answer in answers] == [200] * LIVE_REFRESH_TOKENS_PER_SIGN_IN
    assert RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).count() == 10
    # The eleventh use within the interval is a replay, not a tab: refused, and the sign-in ends.
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()
    assert not any(live(world, answer.json()) for answer in answers[:2])


def test_spare_pairs_of_earlier_races_do_not_count_against_a_later_one(client, world, interval):
    """Two tabs race, again and again over a long sign-in: each race leaves a spare pair the
    app never uses (the other tab's copy was overwritten), which lives until it expires."""
    current = sign_in_with(client, world.acme.app, world.alice)["refresh_token"]
    for _ in range(2 * LIVE_REFRESH_TOKENS_PER_SIGN_IN):
        kept, spare = (refresh(client, world.acme.app, current) for _ in range(2))
        assert kept.status_code == spare.status_code == 200, spare.content
        rotated = refresh(client, world.acme.app, kept.json()["refresh_token"])
        assert rotated.status_code == 200, rotated.content
        current = rotated.json()["refresh_token"]
        # The next race comes minutes later.
        RefreshToken.objects.filter(user=world.alice).update(
            created=F("created") - timedelta(minutes=5), revoked=F("revoked") - timedelta(minutes=5)
        )
    live_tokens = RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).count()
    assert live_tokens == 2 * LIVE_REFRESH_TOKENS_PER_SIGN_IN + 1  # every spare, and the one in use


def test_after_the_interval_a_second_use_ends_the_sign_in(client, world, interval):
    first = sign_in_with(client, world.acme.app, world.alice)
    second = refresh(client, world.acme.app, first["refresh_token"]).json()
    spent_earlier(first["refresh_token"], 31)
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert refused(refresh(client, world.acme.app, second["refresh_token"]))
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()


def test_without_an_interval_the_second_use_ends_the_sign_in_as_before(client, world):
    first = sign_in_with(client, world.acme.app, world.alice)
    second = refresh(client, world.acme.app, first["refresh_token"]).json()
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert refused(refresh(client, world.acme.app, second["refresh_token"]))


def revoked_by_the_app(client, world, refresh_token: str) -> None:
    """The app's logout: RFC 7009 revocation of the refresh token it holds."""
    body = {"token": refresh_token, "token_type_hint": "refresh_token", "client_id": world.acme.app.client_id}
    assert client.post("/o/revoke_token/", body).status_code == 200


def test_a_token_revoked_on_purpose_is_not_used_again(client, world, interval):
    """RFC 7009: a revoked token cannot be used again, whatever the interval."""
    first = sign_in_with(client, world.acme.app, world.alice)
    second = refresh(client, world.acme.app, first["refresh_token"]).json()
    revoked_by_the_app(client, world, second["refresh_token"])
    assert refused(refresh(client, world.acme.app, second["refresh_token"]))
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))  # its successor is gone
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()


def test_revoking_one_pair_ends_the_sign_in_with_every_pair(client, world, interval):
    """An app that signs out revokes the refresh token it holds: the pair a second use got
    beside it must not outlive that (RFC 7009, 2.1: the whole grant may go)."""
    first = sign_in_with(client, world.acme.app, world.alice)
    kept = refresh(client, world.acme.app, first["refresh_token"]).json()
    other = refresh(client, world.acme.app, first["refresh_token"]).json()
    revoked_by_the_app(client, world, kept["refresh_token"])
    assert refused(refresh(client, world.acme.app, other["refresh_token"]))
    assert introspect(client, world.acme, other["access_token"])["active"] is False


def test_a_token_two_rotations_back_is_reuse(client, world, interval):
    first = sign_in_with(client, world.acme.app, world.alice)
    second = refresh(client, world.acme.app, first["refresh_token"]).json()
    third = refresh(client, world.acme.app, second["refresh_token"]).json()
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert refused(refresh(client, world.acme.app, third["refresh_token"]))


def test_after_sign_out_everywhere_a_spent_token_gets_nothing(client, world, interval):
    first = sign_in_with(client, world.acme.app, world.alice)
    refresh(client, world.acme.app, first["refresh_token"])
    user_sign_out_everywhere(actor=STAFF, user=world.alice, issuer="https://hub.example")
    issued = RefreshToken.objects.count()
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert RefreshToken.objects.count() == issued


def test_another_clients_spent_token_gets_nothing(client, world, interval):
    first = sign_in_with(client, world.acme.app, world.alice)
    refresh(client, world.acme.app, first["refresh_token"])
    issued = RefreshToken.objects.count()
    assert refused(refresh(client, world.bolt.app, first["refresh_token"]))
    assert RefreshToken.objects.count() == issued
    # A spent token shown by anyone is evidence of theft: the sign-in ends, as without an interval.
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()


def test_a_successor_ended_while_the_pair_is_written_issues_nothing(client, world, interval, monkeypatch):
    """A sign-out or the successor's own rotation between the read and the write: refused."""
    found = accounts.oidc.validators.refresh_token_successor

    def and_then_revoked(**arguments):
        successor = found(**arguments)
        if successor is not None:
            successor.revoke()  # as a concurrent revocation would, after the read
        return successor

    monkeypatch.setattr(accounts.oidc.validators, "refresh_token_successor", and_then_revoked)
    first = sign_in_with(client, world.acme.app, world.alice)
    assert refresh(client, world.acme.app, first["refresh_token"]).status_code == 200
    issued = RefreshToken.objects.count()
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert RefreshToken.objects.count() == issued
    assert not AccessToken.objects.filter(user=world.alice).exists()  # the successor's went with it
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()  # reuse: all end


def test_on_sqlite_the_toolkits_path_serves_a_second_use_too(client, world, interval, as_on_sqlite):
    first = sign_in_with(client, world.acme.app, world.alice)
    winner = refresh(client, world.acme.app, first["refresh_token"])
    loser = refresh(client, world.acme.app, first["refresh_token"])
    assert winner.status_code == 200 and loser.status_code == 200, loser.content
    assert live(world, winner.json()) and live(world, loser.json())
    spent_earlier(first["refresh_token"], 31)
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))


@pytest.mark.parametrize(("value", "accepted"), [(0, True), (60, True), (61, False), (-1, False), ("5", False)])
def test_the_interval_is_whole_seconds_up_to_a_minute(value, accepted):
    errors = config_errors({"refresh_token_reuse_interval": value})
    assert (errors == []) is accepted, errors


@test_refresh_rotation.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_uses_at_once_within_the_interval_both_get_a_pair(world, interval, monkeypatch):
    """Both requests read the token as live; the one whose rotation loses gets a pair beside
    the winner's instead of ending the sign-in (test_refresh_rotation.py: without an interval)."""
    token = sign_in_with(DjangoTestClient(), world.acme.app, world.alice)
    answers = test_refresh_rotation.refreshed_at_once(world.acme.app, token["refresh_token"], monkeypatch)
    assert [answer.status_code for answer in answers] == [200, 200], [answer.content for answer in answers]
    first, second = (answer.json() for answer in answers)
    assert first["refresh_token"] != second["refresh_token"]
    assert live(world, first) and live(world, second)
