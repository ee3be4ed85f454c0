"""The database backend: a connection is checked before a request uses it, unless a request
used it, and Django kept it, a moment ago (docs/decisions/0028)."""

import psycopg
import pytest
from django.db import OperationalError, ProgrammingError, connection, connections

from harbourmaster.db.postgresql import base as backend

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the hub's PostgreSQL backend"),
]


class Checks(list):
    clock: list[float]


@pytest.fixture
def checks(monkeypatch):
    """The backend's clock, under the test's control, and the round-trip checks made
    (Django's ``SELECT 1``), by backend process id."""
    done = Checks()
    wrapper = type(connections["default"])
    real = wrapper.is_usable

    def counting(self):
        done.append(self.connection.info.backend_pid)
        return real(self)

    monkeypatch.setattr(wrapper, "is_usable", counting)
    clock = [1000.0]
    monkeypatch.setattr(backend, "monotonic", lambda: clock[0])
    connection.close()  # each test starts with a new connection, proved by nothing
    done.clock = clock
    return done


def later(checks, seconds: float) -> None:
    checks.clock[0] += seconds


def request(sql: str | None = "SELECT 1") -> tuple | None:
    """What Django does around a request: request_started, the view's query (if any),
    request_finished."""
    connection.close_if_unusable_or_obsolete()
    try:
        if sql is None:
            return None
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()
    finally:
        connection.close_if_unusable_or_obsolete()


def kill(pid: int) -> None:
    params = connection.get_connection_params()
    keep = ("dbname", "user", "password", "host", "port")
    with psycopg.connect(**{k: params[k] for k in keep if params.get(k)}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_hub_runs_its_backend_on_postgresql():
    assert isinstance(connections["default"], backend.DatabaseWrapper)
    assert connection.health_check_enabled


def test_a_connection_used_a_moment_ago_is_not_checked_again(checks):
    request()
    later(checks, 0.2)
    request()
    later(checks, 0.2)
    request()
    assert checks == []


def test_a_connection_idle_longer_than_the_window_is_checked(checks):
    request()
    later(checks, 0.6)
    assert request("SELECT 2") == (2,)
    assert checks == [connection.connection.info.backend_pid]


def test_requests_that_do_not_use_the_connection_prove_nothing(checks):
    request()
    for _ in range(3):
        later(checks, 0.3)
        request(None)
    later(checks, 0.1)
    request()  # 1.0 s after the last use
    assert len(checks) == 1


def test_a_connection_kept_after_an_error_is_checked_once_idle(checks):
    """Django checks the connection as a request with a database error ends, and keeps it;
    a request that comes long after must still check it."""
    with pytest.raises(ProgrammingError):
        request("SELECT * FROM no_such_table")
    assert connection.connection is not None  # found usable, kept
    before = len(checks)
    later(checks, 30)
    assert request("SELECT 5") == (5,)
    assert len(checks) == before + 1


def test_a_connection_that_died_while_idle_is_replaced_before_the_request_uses_it(checks):
    request()
    dead = connection.connection.info.backend_pid
    kill(dead)
    later(checks, 0.6)
    assert request("SELECT 3") == (3,)
    assert checks == [dead]
    assert connection.connection.info.backend_pid != dead


def test_a_connection_that_died_within_the_window_fails_one_request_and_is_replaced(checks):
    """The price of the window: the request that meets the dead connection fails, as it
    would have without health checks; the next one gets a new connection."""
    request()
    dead = connection.connection.info.backend_pid
    kill(dead)
    later(checks, 0.1)
    with pytest.raises(OperationalError):
        request()
    assert connection.connection is None  # found unusable as the request ended, and closed
    later(checks, 0.1)
    assert request("SELECT 4") == (4,)
    assert connection.connection.info.backend_pid != dead


def test_a_closed_connection_forgets_its_proof(checks):
    request()
    connection.close()
    assert connection.proved_at == backend.NEVER and connection.used_at == backend.NEVER
