"""Rate limits per tenant and per client, shared by every process through Redis.

Both counters of a request are counted in one round trip (a pipeline of INCR and EXPIRE
NX per key), in fixed one-minute windows, so all web processes count against the same
budget. Once a process knows a token's client, that round trip is the one that reads the
token (``cache_read_counting``): a call the token then fails still counts. The limits come from the tenant's config, which arrives with the cached client
(``ApiCaller.tenant_config``): no read of its own. Without Redis (the embedded default)
the counters live in the process's local-memory cache.
"""

import functools
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisSerializer
from rest_framework.throttling import BaseThrottle

from harbourmaster.api.caller import ApiCaller

WINDOW_SECONDS = 60
_SERIALIZER = RedisSerializer()


@functools.cache
def redis_client() -> "redis.Redis | None":
    """The shared Redis, for what the cache API cannot say (pipelines, sorted sets); None without it."""
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


def _window() -> tuple[int, int]:
    now = time.time()
    start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    return start, max(1, int(start + WINDOW_SECONDS - now))


def _counter_key(key: str, window_start: int) -> str:
    return f"ratelimit:{key}:{window_start}"


def _count_in_cache(key: str) -> int:
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=WINDOW_SECONDS * 2)
        return 1


def _count_many(keys: list[str], window_start: int) -> list[int]:
    """Add one to each counter of this window; their new values. One round trip with Redis."""
    keys = [_counter_key(key, window_start) for key in keys]
    client = redis_client()
    if client is None:
        return [_count_in_cache(key) for key in keys]
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        # The cache's own key, so cache.get reads the same counter (an int is stored bare).
        full_key = cache.make_and_validate_key(key)
        pipeline.incr(full_key)
        pipeline.expire(full_key, WINDOW_SECONDS * 2, nx=True)
    return pipeline.execute()[::2]


@dataclass(frozen=True, slots=True)
class Counted:
    """Counters already counted for this request, in the round trip that read its token."""

    window_start: int
    names: tuple[str, ...]
    values: tuple[int, ...]


# Which tenant a client belongs to never changes: once a process has counted a client's
# calls, it can count the next one in the same round trip that reads its token.
_COUNTERS_OF_CLIENT: dict[str, tuple[str, ...]] = {}
_COUNTERS_OF_CLIENT_LIMIT = 10_000


def _counter_names(caller: ApiCaller) -> tuple[str, ...]:
    return (f"tenant:{caller.tenant.pk}", f"client:{caller.client.pk}")


def _counters_remember(caller: ApiCaller) -> None:
    if len(_COUNTERS_OF_CLIENT) >= _COUNTERS_OF_CLIENT_LIMIT:
        _COUNTERS_OF_CLIENT.clear()
    _COUNTERS_OF_CLIENT[caller.client.client_id] = _counter_names(caller)


# Reads the cache keys and counts the call in one command: a pipeline of MGET, INCR and
# EXPIRE NX cost the client as much packing and parsing as the rest of a small API call.
# KEYS: the cache keys to read, then the counters; ARGV: how many keys to read, the
# counters' lifetime. Answers the values read (false for a miss), then the counts.
_READ_COUNTING_SCRIPT = """
local read = tonumber(ARGV[1])
local answer = redis.call('MGET', unpack(KEYS, 1, read))
for index = read + 1, #KEYS do
  local count = redis.call('INCR', KEYS[index])
  if count == 1 then redis.call('EXPIRE', KEYS[index], ARGV[2]) end
  answer[#answer + 1] = count
end
return answer
"""


@functools.cache
def _read_counting_script():
    return redis_client().register_script(_READ_COUNTING_SCRIPT)


def cache_read_counting(keys: list[str], client_id: str | None) -> tuple[dict, Counted | None]:
    """``cache.get_many(keys)``, and, when this process knows the client's counters, the
    call counted in the same round trip (one script: MGET, then INCR and EXPIRE per counter)."""
    names = _COUNTERS_OF_CLIENT.get(client_id) if client_id else None
    if names is None or redis_client() is None:
        return cache.get_many(keys), None
    window_start = _window()[0]
    counters = [cache.make_and_validate_key(_counter_key(name, window_start)) for name in names]
    answer = _read_counting_script()(
        keys=[cache.make_and_validate_key(key) for key in keys] + counters, args=[len(keys), WINDOW_SECONDS * 2]
    )
    values, counts = answer[: len(keys)], answer[len(keys) :]
    # Stored as the cache stores them: an int bare, anything else pickled.
    found = {key: _SERIALIZER.loads(value) for key, value in zip(keys, values, strict=True) if value is not None}
    return found, Counted(window_start, names, tuple(counts))


def _count(key: str, window_start: int) -> int:
    return _count_many([key], window_start)[0]


def failed_authentication_key(ip_address: str) -> str:
    """The cache key of this address's bad-token count this minute (read with the token)."""
    return _counter_key(f"authfail:{ip_address}", _window()[0])


def failed_authentication_note(ip_address: str) -> None:
    """Count a bad token from this address (strangers get a budget, see below)."""
    _count(f"authfail:{ip_address}", _window()[0])


def failed_authentication_wait(used: int | None) -> int | None:
    """Seconds to wait if an address that sent ``used`` bad tokens this minute spent its budget."""
    if (used or 0) >= settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE:
        return _window()[1]
    return None


class TenantRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        caller = request.auth
        if not isinstance(caller, ApiCaller):
            return True

        limits = caller.tenant_config["rate_limits"]
        window_start, self.reset_in = _window()
        names, counted = _counter_names(caller), caller.counted
        if counted is not None and counted.window_start == window_start and counted.names == names:
            tenant_used, client_used = counted.values
        else:
            tenant_used, client_used = _count_many(list(names), window_start)
            _counters_remember(caller)
        budgets = [(limits["tenant_per_minute"], tenant_used), (limits["client_per_minute"], client_used)]
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
