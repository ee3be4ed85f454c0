"""Server-side prepared statements for the few hot statements the hub writes by hand.

Django sends every query with its parameters merged in, so PostgreSQL plans it again on
each execution. For the refresh grant's two statements (joins and data-modifying CTEs)
planning cost about four times the execution. A statement run through ``prepared_cursor``
is prepared once per database connection (psycopg keeps the prepared statements of its
connection) and then only executed. It still goes through Django's cursor wrapper, so
query logging, ``CaptureQueriesContext`` and database error translation work as usual.
Off PostgreSQL it is Django's own cursor.
"""

from contextlib import contextmanager

from django.db import connections


def _preparing_cursor_class():
    import psycopg

    class PreparingCursor(psycopg.Cursor):
        """Server-side binding, and every statement prepared (psycopg caches them per connection)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


_CURSOR_CLASS = None
# Django turns psycopg's automatic preparing off (prepare_threshold None), and psycopg then
# refuses even an explicit prepare=True. A threshold no query reaches prepares only what asks.
_ONLY_WHEN_ASKED = 2**62


@contextmanager
def prepared_cursor(using: str):
    global _CURSOR_CLASS
    connection = connections[using]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    if _CURSOR_CLASS is None:
        _CURSOR_CLASS = _preparing_cursor_class()
    connection.ensure_connection()
    if connection.connection.prepare_threshold is None:
        connection.connection.prepare_threshold = _ONLY_WHEN_ASKED
    raw = _CURSOR_CLASS(connection.connection)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        yield cursor
