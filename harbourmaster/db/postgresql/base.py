"""Django's PostgreSQL backend, with the per-request health check skipped for a connection
that has just proved itself.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every
request: a round trip, and a statement for the server, on every token and refresh
request. A connection that served a request without a database error less than
``PROVED_RECENTLY`` seconds ago is taken as alive, as HikariCP's ``aliveBypassWindowMs``
does. Under load every request is inside that window; an idle worker still checks
first, and that is when a kept connection is likely to have died (a restart, a failover,
an idle timeout). A connection that dies within the window fails that request's first
query; Django then finds the connection unusable at the end of the request and replaces
it, as it would without health checks (docs/decisions/0028).
"""

import time

from django.db.backends.postgresql import base

PROVED_RECENTLY = 0.5  # seconds


class DatabaseWrapper(base.DatabaseWrapper):
    proved_at = float("-inf")  # monotonic time a request last used this connection without error

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and time.monotonic() - self.proved_at < PROVED_RECENTLY
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self):
        # Runs as every request starts and ends. ``health_check_done`` is set once a request
        # opens a cursor (checked or freshly connected). After a database error Django checks
        # the connection here and closes it if it is broken: one still open has proved itself.
        proved = self.connection is not None and self.health_check_done
        super().close_if_unusable_or_obsolete()
        if proved and self.connection is not None:
            self.proved_at = time.monotonic()

    def close(self):
        super().close()
        self.proved_at = float("-inf")
