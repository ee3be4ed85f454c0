"""Django's PostgreSQL backend, with the per-request health check skipped for a connection
that has just proved itself.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every
request: a round trip, and a statement for the server, on every token and refresh
request. A connection that a request used less than ``PROVED_RECENTLY`` seconds ago, and
that Django kept open when that request ended, is taken as alive, as HikariCP's
``aliveBypassWindowMs`` does. Under load every request is inside that window; an idle
worker still checks first, and that is when a kept connection is likely to have died (a
restart, a failover, an idle timeout). A connection that dies within the window fails
that request's first query; Django then finds the connection unusable at the end of the
request and replaces it, as it would without health checks (docs/decisions/0028).
"""

from time import monotonic

from django.db.backends.postgresql import base

PROVED_RECENTLY = 0.5  # seconds
NEVER = float("-inf")


class DatabaseWrapper(base.DatabaseWrapper):
    used_at = NEVER  # when a request last asked for this connection (a cursor, a transaction)
    proved_at = NEVER  # when last used by a request that Django let keep it

    def close_if_health_check_failed(self):
        # Django asks this before a cursor or a transaction uses the connection.
        now = monotonic()
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and now - self.proved_at < PROVED_RECENTLY
        ):
            self.health_check_done = True
        else:
            super().close_if_health_check_failed()
        self.used_at = now

    def close_if_unusable_or_obsolete(self):
        # Runs as every request starts and ends. Django closes here a connection that an
        # error left broken, or that outlived CONN_MAX_AGE; one it keeps has proved itself
        # as of its last use (not now: the request may not have touched it at all).
        used_at = self.used_at if self.connection is not None and self.health_check_done else NEVER
        super().close_if_unusable_or_obsolete()
        if self.connection is not None:
            self.proved_at = max(self.proved_at, used_at)

    def close(self):
        try:
            super().close()
        finally:
            self.used_at = self.proved_at = NEVER
