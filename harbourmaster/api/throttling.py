"""Rate limits per tenant and per client, shared by every process through the cache.

With REDIS_URL set the cache is Redis, whose INCR is atomic, so all web processes count
against the same fixed one-minute windows. The limits come from the tenant's config.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from harbourmaster.api.caller import ApiCaller
from tenants.selectors import tenant_effective_config

WINDOW_SECONDS = 60


def _count(key: str, window_start: int) -> int:
    full_key = f"ratelimit:{key}:{window_start}"
    cache.add(full_key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        return cache.incr(full_key)
    except ValueError:  # expired between add and incr
        cache.add(full_key, 1, timeout=WINDOW_SECONDS * 2)
        return 1


def _window() -> tuple[int, int]:
    now = time.time()
    start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    return start, max(1, int(start + WINDOW_SECONDS - now))


def failed_authentication_note(ip_address: str) -> None:
    """Count a bad token from this address (strangers get a budget, see below)."""
    _count(f"authfail:{ip_address}", _window()[0])


def failed_authentication_wait(ip_address: str) -> int | None:
    """Seconds to wait if this address spent its budget of bad tokens this minute, else None."""
    start, reset_in = _window()
    used = cache.get(f"ratelimit:authfail:{ip_address}:{start}", 0)
    return reset_in if used >= settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE else None


class TenantRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        caller = request.auth
        if not isinstance(caller, ApiCaller):
            return True

        limits = tenant_effective_config(tenant=caller.tenant)["rate_limits"]
        now = time.time()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        self.reset_in = max(1, int(window_start + WINDOW_SECONDS - now))
        budgets = [
            (limits["tenant_per_minute"], _count(f"tenant:{caller.tenant.pk}", window_start)),
            (limits["client_per_minute"], _count(f"client:{caller.client.pk}", window_start)),
        ]
        self.limit, used = min(budgets, key=lambda budget: budget[0] - budget[1])
        self.remaining = max(0, self.limit - used)
        request.rate_limit = self
        return used <= self.limit

    def wait(self) -> float:
        return self.reset_in

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_in),
        }
