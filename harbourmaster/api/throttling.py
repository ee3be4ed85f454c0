"""Rate limits per tenant and per client, shared by every process through Redis.

Both counters of a request are counted in one round trip (a pipeline of INCR and EXPIRE
NX per key), in fixed one-minute windows, so all web processes count against the same
budget. Once a process knows a token's client, that round trip is the one that reads the
token (``cache_read_counting``), and it counts only a call it can see will be served: not
one from an address over its bad-token budget, nor one whose token is revoked, or else a
leaked token replayed would spend its tenant's budget for every healthy client. The
limits come from the tenant's config, which arrives with the cached client
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
from tenants.selectors import TOMBSTONE

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
# KEYS: the cache keys to read, then the counters. ARGV: how many keys to read, the
# counters' lifetime, then what must hold for the call to be counted, each by its index
# among the keys read (0 for none): the address's bad-token count, under the budget; the
# token's entry, present and not the tombstone; the revoked-jti key, absent. Answers the
# values read (false for a miss), then the counts; the values alone if not counted.
_READ_COUNTING_SCRIPT = """
local read = tonumber(ARGV[1])
local answer = redis.call('MGET', unpack(KEYS, 1, read))
local failures, live, absent = tonumber(ARGV[3]), tonumber(ARGV[5]), tonumber(ARGV[7])
if failures > 0 and (tonumber(answer[failures]) or 0) >= tonumber(ARGV[4]) then return answer end
if live > 0 and (not answer[live] or answer[live] == ARGV[6]) then return answer end
if absent > 0 and answer[absent] then return answer end
for index = read + 1, #KEYS do
  local count = redis.call('INCR', KEYS[index])
  if count == 1 then redis.call('EXPIRE', KEYS[index], ARGV[2]) end
  answer[#answer + 1] = count
end
return answer
"""
# A buried entry as the cache stores it, pickled (the cache's serializer, its default protocol).
_TOMBSTONE_STORED = _SERIALIZER.dumps(TOMBSTONE)


@functools.cache
def _read_counting_script():
    return redis_client().register_script(_READ_COUNTING_SCRIPT)


def _index_of(keys: list[str], key: str | None) -> int:
    """The script's (one-based) index of ``key`` among the keys read; 0 for none."""
    return keys.index(key) + 1 if key is not None else 0


def cache_read_counting(
    keys: list[str],
    client_id: str | None,
    *,
    failures_key: str,
    live_key: str | None = None,
    absent_key: str | None = None,
) -> tuple[dict, Counted | None]:
    """``cache.get_many(keys)``, and, when this process knows the client's counters, the
    call counted in the same round trip (one script: MGET, then INCR and EXPIRE per counter).

    Not counted (None) if the address behind ``failures_key`` spent its bad-token budget,
    ``live_key`` is missing or buried, or ``absent_key`` is present: such a call is refused,
    or, if the database then finds it valid, counted by the throttle in a round trip of its own.
    """
    names = _COUNTERS_OF_CLIENT.get(client_id) if client_id else None
    if names is None or redis_client() is None:
        return cache.get_many(keys), None
    window_start = _window()[0]
    counters = [cache.make_and_validate_key(_counter_key(name, window_start)) for name in names]
    answer = _read_counting_script()(
        keys=[cache.make_and_validate_key(key) for key in keys] + counters,
        args=[
            len(keys),
            WINDOW_SECONDS * 2,
            _index_of(keys, failures_key),
            settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE,
            _index_of(keys, live_key),
            _TOMBSTONE_STORED,
            _index_of(keys, absent_key),
        ],
    )
    values, counts = answer[: len(keys)], answer[len(keys) :]
    # Stored as the cache stores them: an int bare, anything else pickled.
    found = {key: _SERIALIZER.loads(value) for key, value in zip(keys, values, strict=True) if value is not None}
    return found, Counted(window_start, names, tuple(counts)) if counts else None


def counted_undo(counted: Counted) -> None:
    """Take back a call counted with its token's read that is refused after all (its client
    disabled or its tenant suspended, which only the unpickled client entry says). Rare, so
    one more round trip there beats unpickling in the script on every call."""
    client = redis_client()
    pipeline = client.pipeline(transaction=False)
    for name in counted.names:
        full_key = cache.make_and_validate_key(_counter_key(name, counted.window_start))
        pipeline.decr(full_key)
        # Should the counter have expired meanwhile, the DECR's new key must not live forever.
        pipeline.expire(full_key, WINDOW_SECONDS * 2, nx=True)
    pipeline.execute()


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
        # Counted with the token's read, perhaps in the window that just ended: not again.
        if counted is not None and counted.names == names:
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
