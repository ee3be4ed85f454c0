"""A refresh racing "sign out everywhere", on PostgreSQL, the interleavings forced.

The sign-out (accounts.services.user_sign_out_everywhere) revokes the user's live refresh
tokens in one UPDATE and then deletes their access tokens; the refresh is one statement
that spends the old token and inserts the new pair (accounts.oidc.rotation, decision 25).
A rotation that has written but not committed when the sign-out's UPDATE starts makes that
UPDATE wait on the old token, and its new refresh token is not in the UPDATE's snapshot:
only the DELETE that follows ends it, by taking its access token, without which a refresh
token is refused. Whatever the order, the app must be left with nothing that works.

Each test holds one side at a chosen point and waits until PostgreSQL shows the other
blocked on it before letting go; nothing depends on timing.
"""

import base64
import hashlib
import json
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client as DjangoTestClient
from oauth2_provider.models import get_refresh_token_model

from accounts.models import User
from accounts.oidc.jwt_tokens import signing_key_forget
from accounts.services import user_sign_out_everywhere
from tests.oidc.test_claims_parameter import sign_in_with
from tests.oidc.test_refresh_rotation import STAFF, live_token_of, postgresql_only, refresh, refused
from tests.test_signin_policy import configure

pytestmark = [postgresql_only, pytest.mark.django_db(transaction=True)]

RefreshToken = get_refresh_token_model()
ISSUER = "https://hub.example"
HELD = 250025  # the advisory lock the test holds and a held rotation waits for (any number)


def wait_until(condition, what: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting until {what}")


def blocked_on_a_lock(pid: int) -> str | None:
    """The statement backend ``pid`` runs while it waits for another transaction's lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", [pid])
        row = cursor.fetchone()
    return row[0] if row else None


def waiting_for_the_held_lock() -> int | None:
    """The backend that waits for the advisory lock HELD (a held rotation)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = %s "
            "AND objsubid = 1 AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [HELD],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def backend_running(text: str) -> int | None:
    """The backend that waits for a lock while running a statement containing ``text``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() "
            "AND position(%s in query) > 0",
            [text],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def in_thread(work) -> tuple[threading.Thread, list]:
    """``work()`` on a connection of its own; its result, or what it raised, in the list."""
    outcome = []

    def run():
        try:
            outcome.append(work())
        except BaseException as error:  # handed to the test, which raises it
            outcome.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def result_of(thread: threading.Thread, outcome: list):
    thread.join(timeout=30)
    assert not thread.is_alive(), "the thread is still blocked"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def sign_out_everywhere(user: User) -> User:
    return user_sign_out_everywhere(actor=STAFF, user=User.objects.get(pk=user.pk), issuer=ISSUER)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def basic(tenant_world) -> str:
    credentials = f"{tenant_world.backend.client_id}:{tenant_world.backend_secret}".encode()
    return f"Basic {base64.b64encode(credentials).decode()}"


def introspect(tenant_world, token: str) -> dict:
    """What the tenant's resource server learns of ``token`` (its backend client asks)."""
    answer = DjangoTestClient().post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=basic(tenant_world))
    assert answer.status_code == 200, answer.content
    return answer.json()


def listed_as_revoked(tenant_world, jwt_access_token: str) -> bool:
    """What a resource server checking JWTs on its own decides from the revocation list
    (decision 27): the token's user at its client is listed from before the token."""
    payload = jwt_access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    listed = DjangoTestClient().get("/o/revoked-tokens/", HTTP_AUTHORIZATION=basic(tenant_world)).json()
    digest = hashlib.sha256(f"{claims['client_id']}:{claims['sub']}".encode()).hexdigest()
    entries = [entry for entry in listed["revoked_subjects"] if entry["client_sub_sha256"] == digest]
    return any(claims["iat"] <= entry["revoked_before"] for entry in entries)


def assert_nothing_works(world, token: dict) -> None:
    """What the app holds is refused everywhere: refresh, introspection, userinfo."""
    assert refused(refresh(DjangoTestClient(), world.acme.app, token["refresh_token"]))
    assert introspect(world.acme, token["access_token"]) == {"active": False}
    answer = DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert answer.status_code == 401


@pytest.fixture
def rotation_held_before_commit():
    """While the test holds the advisory lock HELD, a rotation waits at its end: the old token
    spent, the new pair written, nothing committed. A trigger of the test's own; dropped after."""
    table = connection.ops.quote_name(RefreshToken._meta.db_table)
    with connection.cursor() as cursor:
        # Idempotent: a run killed half-way (with --reuse-db) must not break the next.
        cursor.execute(
            "CREATE OR REPLACE FUNCTION test_rotation_held() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock_shared({HELD}); RETURN NULL; END $$"
        )
        cursor.execute(f"DROP TRIGGER IF EXISTS test_rotation_held ON {table}")
        cursor.execute(
            f"CREATE TRIGGER test_rotation_held AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION test_rotation_held()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")
            cursor.execute(f"DROP TRIGGER IF EXISTS test_rotation_held ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS test_rotation_held()")
            cursor.execute("RESET lock_timeout")


@pytest.mark.parametrize("access_token_format", ["opaque", "jwt"])
def test_a_refresh_committing_during_the_sign_out_leaves_the_app_nothing(
    world, rotation_held_before_commit, access_token_format
):
    signing_key_forget()
    configure(world.acme.tenant, access_token_format=access_token_format)
    app_token = sign_in_with(DjangoTestClient(), world.acme.app, world.alice)
    assert introspect(world.acme, app_token["access_token"])["active"] is True

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [HELD])
    try:
        refreshing = in_thread(lambda: refresh(DjangoTestClient(), world.acme.app, app_token["refresh_token"]))
        wait_until(waiting_for_the_held_lock, "the rotation has written its pair")
        pids: list[int] = []
        signing_out = in_thread(lambda: (pids.append(backend_pid()), sign_out_everywhere(world.alice)))
        wait_until(lambda: pids, "the sign-out has a connection")
        # The sign-out's UPDATE has its snapshot, and waits for the rotation's old token.
        waiting = wait_until(lambda: blocked_on_a_lock(pids[0]), "the sign-out waits for the rotation")
        assert waiting.startswith("UPDATE") and RefreshToken._meta.db_table in waiting, waiting
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [HELD])

    answer = result_of(*refreshing)
    result_of(*signing_out)
    assert answer.status_code == 200, answer.content  # the refresh won: the app got a new pair
    assert_nothing_works(world, answer.json())
    assert_nothing_works(world, app_token)
    if access_token_format == "jwt":
        assert listed_as_revoked(world.acme, answer.json()["access_token"])


def test_a_refresh_waiting_on_the_sign_out_gets_nothing(world):
    app_token = sign_in_with(DjangoTestClient(), world.acme.app, world.alice)
    family = live_token_of(app_token["refresh_token"]).token_family
    signed_out, commit = threading.Event(), threading.Event()

    def sign_out_and_hold():
        with transaction.atomic():
            sign_out_everywhere(world.alice)
            signed_out.set()
            assert commit.wait(timeout=30)

    signing_out = in_thread(sign_out_and_hold)
    try:
        assert signed_out.wait(timeout=10)
        refreshing = in_thread(lambda: refresh(DjangoTestClient(), world.acme.app, app_token["refresh_token"]))
        # The rotation read the token as live, and its guard waits for the sign-out's row.
        wait_until(lambda: backend_running("WITH spent AS"), "the rotation waits for the sign-out")
    finally:
        commit.set()

    result_of(*signing_out)
    answer = result_of(*refreshing)
    assert refused(answer)
    assert RefreshToken.objects.filter(token_family=family).count() == 1  # nothing was issued
    assert_nothing_works(world, app_token)
