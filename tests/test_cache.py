"""The Redis cache shares one client per connection pool, and still works as Django's does."""

import threading
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache, caches

from harbourmaster.cache import HubRedisCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default has no Redis")


def test_every_operation_uses_the_same_redis_client():
    assert isinstance(caches["default"], HubRedisCache)
    backend = caches["default"]._cache
    assert backend.get_client(write=True) is backend.get_client(write=False) is backend.get_client("any key")


def test_the_shared_client_serves_threads_at_once():
    errors, run = [], uuid.uuid4().hex

    def work(n: int) -> None:
        try:
            for i in range(50):
                cache.set(f"cache-test:{run}:{n}:{i}", {"n": n, "i": i}, 30)
                assert cache.get(f"cache-test:{run}:{n}:{i}") == {"n": n, "i": i}
                cache.add(f"cache-test:{run}:count:{n}", 0, 30)
                assert cache.incr(f"cache-test:{run}:count:{n}") == i + 1
        except Exception as error:
            errors.append((n, error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.get_many([f"cache-test:{run}:{n}:49" for n in range(8)]) == {
        f"cache-test:{run}:{n}:49": {"n": n, "i": 49} for n in range(8)
    }
