"""The database backend: a connection is checked before a request uses it, unless a request
used it without error a moment ago (docs/decisions/0028)."""

import psycopg
import pytest
from django.db import OperationalError, connection, connections

from harbourmaster.db.postgresql import base as backend

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the hub's PostgreSQL backend"),
]


@pytest.fixture
def checks(monkeypatch):
    """How many times the connection is checked with a round trip (Django's ``SELECT 1``)."""
    done = []
    wrapper = type(connections["default"])
    real = wrapper.is_usable

    def counting(self):
        done.append(self.connection.info.backend_pid)
        return real(self)

    monkeypatch.setattr(wrapper, "is_usable", counting)
    return done


def _request(sql: str = "SELECT 1") -> tuple:
    """What Django does around a request (request_started, the view's query, request_finished)."""
    connection.close_if_unusable_or_obsolete()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()
    finally:
        connection.close_if_unusable_or_obsolete()


def _kill(pid: int) -> None:
    params = connection.get_connection_params()
    keep = ("dbname", "user", "password", "host", "port")
    with psycopg.connect(**{k: params[k] for k in keep if params.get(k)}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_hub_runs_its_backend_on_postgresql():
    assert isinstance(connections["default"], backend.DatabaseWrapper)
    assert connection.health_check_enabled


def test_a_connection_used_a_moment_ago_is_not_checked_again(checks):
    _request()
    _request()
    _request()
    assert checks == []


def test_a_connection_idle_longer_than_the_window_is_checked(checks, monkeypatch):
    _request()
    monkeypatch.setattr(backend, "PROVED_RECENTLY", 0)
    assert _request("SELECT 2") == (2,)
    assert checks == [connection.connection.info.backend_pid]


def test_a_connection_that_died_while_idle_is_replaced_before_the_request_uses_it(checks, monkeypatch):
    _request()
    dead = connection.connection.info.backend_pid
    _kill(dead)
    monkeypatch.setattr(backend, "PROVED_RECENTLY", 0)
    assert _request("SELECT 3") == (3,)
    assert checks == [dead]
    assert connection.connection.info.backend_pid != dead


def test_a_connection_that_died_within_the_window_fails_one_request_and_is_replaced(checks):
    """The price of the window: the request that meets the dead connection fails, as it
    would have without health checks; the next one gets a new connection."""
    _request()
    dead = connection.connection.info.backend_pid
    _kill(dead)
    with pytest.raises(OperationalError):
        _request()
    assert connection.connection is None  # found unusable as the request ended, and closed
    assert _request("SELECT 4") == (4,)
    assert connection.connection.info.backend_pid != dead
