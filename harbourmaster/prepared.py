"""Server-side prepared statements for the few hot statements the hub writes by hand.

Django sends every query with its parameters merged in, so PostgreSQL plans it again on
each execution. For the refresh grant's two statements (joins and data-modifying CTEs)
planning cost about four times the execution. A statement run through ``prepared_cursor``
is prepared on its connection the first time and then only executed, until the
connection closes or rolls a transaction back (psycopg then deallocates its prepared
statements, and the next use prepares again). It goes through Django's cursor wrapper, so
query logging, ``CaptureQueriesContext`` and database error translation work as usual.
Off PostgreSQL it is Django's own cursor.
"""

from contextlib import contextmanager

from django.db import connections


def _preparing_cursor_class():
    import psycopg

    class PreparingCursor(psycopg.Cursor):
        """Server-side binding, and the statement prepared (psycopg keeps it per connection)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            connection = self.connection
            # Django keeps psycopg's preparing off (threshold None, unless OPTIONS set one),
            # and psycopg then refuses even prepare=True. It is turned on for this statement
            # only: with it on, psycopg would also count, and keep the text of, every other
            # query Django sends.
            configured = connection.prepare_threshold
            if configured is None:
                connection.prepare_threshold = _ONLY_WHEN_ASKED
            try:
                return super().execute(query, params, prepare=True, binary=binary)
            finally:
                connection.prepare_threshold = configured

    return PreparingCursor


_CURSOR_CLASS = None
_ONLY_WHEN_ASKED = 2**62  # a count no query reaches: only what asks is prepared


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
    # What Django's own cursor() does first: a connection that died while it was kept
    # (a database restart, a failover) is replaced, not used for a 500.
    connection.close_if_health_check_failed()
    connection.validate_thread_sharing()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _CURSOR_CLASS(connection.connection)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        yield cursor
