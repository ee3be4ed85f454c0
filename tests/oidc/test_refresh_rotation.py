"""Refresh rotation in one read and one write (accounts.oidc.rotation, decision 25).

A client must see what the toolkit's code gave it: the same tokens, rows and refusals.
The toolkit's code still runs where the statement does not apply (SQLite, say), so the
two are compared here row by row; test_refresh.py drives the rotation with Authlib against
the live server. Run with DATABASE_URL unset, this file checks the SQLite path.
"""

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client as DjangoTestClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

import accounts.oidc.validators
from accounts.oidc import rotation
from accounts.oidc.models import RequestedUserinfoClaims
from accounts.oidc.validators import token_family_new
from accounts.services import user_deactivate
from harbourmaster.actors import Actor
from tests.oidc.test_claims_parameter import claims_parameter, sign_in_with, userinfo
from tests.test_signin_policy import configure

pytestmark = pytest.mark.django_db

AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
STAFF = Actor.system("tests-staff")


def refresh(client, app, refresh_token: str, **extra):
    return client.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id, **extra},
    )


def refused(answer, error: str = "invalid_grant") -> bool:
    return answer.status_code == 400 and answer.json()["error"] == error and "access_token" not in answer.json()


def live_token_of(refresh_token: str):
    return RefreshToken.objects.get(token_checksum=rotation.token_checksum(refresh_token), revoked__isnull=True)


# The statements are PostgreSQL's; on SQLite (the embedded default) this file checks that
# the toolkit's code still gives the same answers.
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the rotation statement is PostgreSQL's")


@pytest.fixture
def as_on_sqlite(monkeypatch):
    """The rotation sees an SQLite database, so the toolkit's code serves the refresh (the ORM
    itself must go on speaking PostgreSQL)."""
    monkeypatch.setattr(rotation, "connections", {"default": SimpleNamespace(vendor="sqlite")})


# --- Cost ------------------------------------------------------------------------------


@postgresql_only
def test_a_refresh_is_one_read_and_one_write(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    with CaptureQueriesContext(connection) as queries:
        answer = refresh(client, world.acme.app, token["refresh_token"])
    assert answer.status_code == 200, answer.content
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 2, statements
    # Prepared statements are logged as "QUERY = '…' - PARAMS = (…)" (harbourmaster.prepared).
    assert "SELECT r." in statements[0] and "WITH spent AS (UPDATE" in statements[1]


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@postgresql_only
def test_the_refresh_statements_are_prepared_once_per_connection(client, world):
    """Planned once per database connection, then only executed (harbourmaster.prepared)."""
    token = sign_in_with(client, world.acme.app, world.alice)
    answer = refresh(client, world.acme.app, token["refresh_token"])
    assert answer.status_code == 200, answer.content
    prepared = _prepared_statements()
    assert any(sql.startswith("SELECT") and "token_checksum" in sql for sql in prepared), prepared
    assert any(sql.startswith("WITH spent AS (UPDATE") for sql in prepared), prepared
    again = refresh(client, world.acme.app, answer.json()["refresh_token"])
    assert again.status_code == 200, again.content
    assert _prepared_statements() == prepared


def test_on_sqlite_the_toolkits_code_rotates(client, world, as_on_sqlite):
    assert not rotation.rotation_supported(using="default")
    token = sign_in_with(client, world.acme.app, world.alice)
    with CaptureQueriesContext(connection) as queries:
        answer = refresh(client, world.acme.app, token["refresh_token"])
    assert answer.status_code == 200, answer.content
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) > 2 and not any(sql.startswith("WITH spent") for sql in statements)
    assert userinfo(client, answer.json()["access_token"])["sub"] == str(world.alice.uuid)


# --- What is written -------------------------------------------------------------------


def rotation_rows(client, world) -> dict:
    """What one refresh leaves in the database, without ids, checksums and times."""
    first = sign_in_with(client, world.acme.app, world.alice, claims=claims_parameter(userinfo={"email": None}))
    old = live_token_of(first["refresh_token"])
    old_access_token_id = old.access_token_id
    answer = refresh(client, world.acme.app, first["refresh_token"])
    assert answer.status_code == 200, answer.content
    second = answer.json()
    new = live_token_of(second["refresh_token"])
    access = AccessToken.objects.get(token_checksum=rotation.token_checksum(second["access_token"]))
    old.refresh_from_db()
    return {
        "response": sorted(second),
        "scope": second["scope"],
        "old revoked": old.revoked is not None and old.access_token_id is None,
        "old access token gone": not AccessToken.objects.filter(pk=old_access_token_id).exists(),
        "same family": new.token_family == old.token_family,
        "new refresh token": (new.user_id, new.application_id, new.token, new.resource, new.revoked),
        "paired": new.access_token_id == access.pk and access.source_refresh_token_id == old.pk,
        "new access token": (access.user_id, access.application_id, access.token, access.scope, access.resource),
        "access token id_token": access.id_token_id,
        "expires in": round((access.expires - timezone.now()).total_seconds(), -1),
        "claims carried": RequestedUserinfoClaims.objects.get(refresh_token=new).names,
        "claims left": RequestedUserinfoClaims.objects.filter(refresh_token=old).exists(),
    }


def test_the_rows_are_those_the_toolkits_code_writes(client, world, request):
    fast = rotation_rows(client, world)
    request.getfixturevalue("as_on_sqlite")
    toolkit = rotation_rows(client, world)
    assert fast == toolkit
    assert fast["new access token"][2] == fast["new refresh token"][2] == ""  # only checksums kept
    assert fast["claims carried"] == ["email"]


def test_userinfo_claims_go_on_with_the_sign_in(client, world):
    asked = claims_parameter(userinfo={"given_name": None})
    first = sign_in_with(client, world.acme.app, world.alice, scope="openid", claims=asked)
    second = refresh(client, world.acme.app, first["refresh_token"]).json()
    third = refresh(client, world.acme.app, second["refresh_token"]).json()
    assert userinfo(client, third["access_token"]) == {"sub": str(world.alice.uuid), "given_name": "Alice"}
    assert RequestedUserinfoClaims.objects.get(refresh_token=live_token_of(third["refresh_token"])).names == [
        "given_name"
    ]


@postgresql_only
def test_a_jwt_tenant_gets_a_jwt_access_token_on_refresh(client, world):
    configure(world.acme.tenant, access_token_format="jwt")
    cache.clear()  # the change's tombstone would have each request read the client again
    token = sign_in_with(client, world.acme.app, world.alice)
    with CaptureQueriesContext(connection) as queries:
        refreshed = refresh(client, world.acme.app, token["refresh_token"]).json()
    assert len(queries.captured_queries) == 2
    assert refreshed["access_token"].count(".") == 2
    assert userinfo(client, refreshed["access_token"])["sub"] == str(world.alice.uuid)


def test_the_old_access_token_stops_working(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    refreshed = refresh(client, world.acme.app, token["refresh_token"]).json()
    old = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert old.status_code == 401
    assert userinfo(client, refreshed["access_token"])["sub"] == str(world.alice.uuid)


# --- Scope (RFC 6749, 6) ---------------------------------------------------------------


def test_a_refresh_may_narrow_the_scope_and_the_narrowing_sticks(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)  # openid email
    narrowed = refresh(client, world.acme.app, token["refresh_token"], scope="openid").json()
    assert narrowed["scope"] == "openid"
    assert userinfo(client, narrowed["access_token"]) == {"sub": str(world.alice.uuid)}
    assert refresh(client, world.acme.app, narrowed["refresh_token"]).json()["scope"] == "openid"


def test_a_refresh_may_not_widen_the_scope_and_nothing_is_spent(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)  # openid email
    assert refused(
        refresh(client, world.acme.app, token["refresh_token"], scope="openid email profile"), "invalid_scope"
    )
    assert refresh(client, world.acme.app, token["refresh_token"]).status_code == 200


# --- Refusals ----------------------------------------------------------------------------


def test_a_replayed_refresh_token_is_refused_and_ends_the_sign_in(client, world):
    first = sign_in_with(client, world.acme.app, world.alice)
    second = refresh(client, world.acme.app, first["refresh_token"]).json()
    assert refused(refresh(client, world.acme.app, first["refresh_token"]))
    assert refused(refresh(client, world.acme.app, second["refresh_token"]))
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(user=world.alice).exists()


def test_another_clients_refresh_token_is_refused_and_still_works_for_its_own(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    assert refused(refresh(client, world.bolt.app, token["refresh_token"]))
    assert refresh(client, world.acme.app, token["refresh_token"]).status_code == 200


def test_a_deactivated_users_refresh_token_is_refused(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    user_deactivate(actor=STAFF, user=world.alice, issuer="https://hub.example")
    assert refused(refresh(client, world.acme.app, token["refresh_token"]))
    assert RefreshToken.objects.filter(user=world.alice).count() == 1  # nothing issued


def test_a_refresh_token_of_a_user_deactivated_behind_the_services_back_is_refused(client, world):
    """The check at refresh itself, not the revocation user_deactivate also does."""
    token = sign_in_with(client, world.acme.app, world.alice)
    type(world.alice).objects.filter(pk=world.alice.pk).update(is_active=False)
    with CaptureQueriesContext(connection) as queries:
        assert refused(refresh(client, world.acme.app, token["refresh_token"]))
    # Refused as the token is read: no write is even tried (the rotation's own guard
    # would also refuse, but as a lost race, which ends the sign-in).
    assert not [query for query in queries.captured_queries if "UPDATE" in query["sql"] or "INSERT" in query["sql"]]
    assert RefreshToken.objects.filter(user=world.alice).count() == 1  # nothing issued


def test_a_sign_in_older_than_the_refresh_lifetime_is_refused(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    began = timezone.now() - timedelta(days=31)
    RefreshToken.objects.filter(user=world.alice).update(token_family=token_family_new(at=began))
    assert refused(refresh(client, world.acme.app, token["refresh_token"]))


def test_a_refresh_token_past_the_toolkits_expiry_is_refused(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    AccessToken.objects.filter(user=world.alice).update(expires=timezone.now() - timedelta(days=31))
    assert refused(refresh(client, world.acme.app, token["refresh_token"]))


def test_a_refresh_token_whose_access_token_was_deleted_is_refused(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    AccessToken.objects.filter(user=world.alice).delete()
    assert refused(refresh(client, world.acme.app, token["refresh_token"]))


def test_a_revoked_or_unknown_refresh_token_is_refused(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    answer = client.post(
        "/o/revoke_token/",
        {"token": token["refresh_token"], "token_type_hint": "refresh_token", "client_id": world.acme.app.client_id},
    )
    assert answer.status_code == 200
    assert refused(refresh(client, world.acme.app, token["refresh_token"]))
    assert refused(refresh(client, world.acme.app, "never-issued"))


# --- Races ----------------------------------------------------------------------------


def refreshed_at_once(app, refresh_token: str, monkeypatch) -> list:
    """Two refreshes with one token, each having read it as live before either rotates it."""
    both_read = threading.Barrier(2, timeout=10)
    rotate = rotation.refresh_token_rotate

    def rotate_after_both_read(**arguments):
        both_read.wait()
        return rotate(**arguments)

    answers = []

    def use():
        try:
            answers.append(refresh(DjangoTestClient(), app, refresh_token))
        finally:
            connections.close_all()

    with monkeypatch.context() as patched:
        patched.setattr(accounts.oidc.validators, "refresh_token_rotate", rotate_after_both_read)
        threads = [threading.Thread(target=use) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return answers


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_uses_at_once_issue_one_pair_and_end_the_sign_in(world, monkeypatch):
    token = sign_in_with(DjangoTestClient(), world.acme.app, world.alice)
    family = live_token_of(token["refresh_token"]).token_family
    answers = refreshed_at_once(world.acme.app, token["refresh_token"], monkeypatch)

    assert sorted(answer.status_code for answer in answers) == [200, 400]
    assert refused(next(answer for answer in answers if answer.status_code == 400))
    assert RefreshToken.objects.filter(token_family=family).count() == 2  # the first and one successor
    assert not RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(user=world.alice).exists()
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    assert (
        DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {winner['access_token']}").status_code == 401
    )


def _rotate_as_read(found) -> bool:
    """The rotation of a token read earlier, as save_bearer_token would ask for it."""
    return rotation.refresh_token_rotate(
        found=found,
        access_token="a-new-access-token",
        refresh_token="a-new-refresh-token",
        scope="openid email",
        expires=timezone.now() + timedelta(hours=1),
        resource=[],
        using="default",
    )


@postgresql_only
def test_a_token_spent_between_read_and_rotation_issues_nothing(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    found = rotation.refresh_token_found(raw_token=token["refresh_token"], using="default")
    RefreshToken.objects.filter(pk=found.refresh_token.pk).update(revoked=timezone.now())
    rotated = _rotate_as_read(found)
    assert rotated is False
    assert not AccessToken.objects.filter(token_checksum=rotation.token_checksum("a-new-access-token")).exists()
    assert RefreshToken.objects.filter(user=world.alice).count() == 1
    assert not AccessToken.objects.filter(user=world.alice).exists()  # the family was revoked


@postgresql_only
def test_a_user_deactivated_between_read_and_rotation_gets_nothing(client, world):
    token = sign_in_with(client, world.acme.app, world.alice)
    found = rotation.refresh_token_found(raw_token=token["refresh_token"], using="default")
    type(world.alice).objects.filter(pk=world.alice.pk).update(is_active=False)
    rotated = _rotate_as_read(found)
    assert rotated is False
    assert not AccessToken.objects.filter(token_checksum=rotation.token_checksum("a-new-access-token")).exists()
    assert not RefreshToken.objects.filter(user=world.alice, revoked__isnull=True).exists()
