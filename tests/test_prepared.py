"""The hub's prepared statements: planned once per connection, on a connection that works."""

import psycopg
import pytest
from django.db import connection

from harbourmaster.prepared import prepared_cursor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"),
]

STATEMENT = "SELECT %s::int + 1 AS hm_prepared_probe"


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _other_connection():
    params = connection.get_connection_params()
    keep = ("dbname", "user", "password", "host", "port")
    return psycopg.connect(**{name: params[name] for name in keep if params.get(name)}, autocommit=True)


def test_a_statement_is_prepared_once_and_django_keeps_its_own_queries_unprepared():
    for value in (1, 2, 3):
        with prepared_cursor("default") as cursor:
            cursor.execute(STATEMENT, [value])
            assert cursor.fetchone() == (value + 1,)
    probes = [sql for sql in _prepared() if "hm_prepared_probe" in sql]
    assert len(probes) == 1
    # psycopg's preparing is back off: Django's own queries are neither prepared nor counted.
    assert connection.connection.prepare_threshold is None


def test_a_connection_that_died_is_replaced_not_used():
    """After a database restart or failover the kept connection is dead: checked, replaced."""
    with prepared_cursor("default") as cursor:
        cursor.execute(STATEMENT, [1])
    dead = connection.connection.info.backend_pid
    with _other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dead])
    connection.health_check_done = False  # as at the start of every request
    with prepared_cursor("default") as cursor:
        cursor.execute(STATEMENT, [41])
        assert cursor.fetchone() == (42,)
    assert connection.connection.info.backend_pid != dead
