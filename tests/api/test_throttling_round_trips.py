"""The hot path of an API call: no database once warm, and config changes still apply at once."""

import pytest
import redis
from django.conf import settings

from harbourmaster.actors import Actor
from harbourmaster.api.throttling import WINDOW_SECONDS, redis_client
from tenants.services import tenant_config_update
from tests.api.test_api_rate_limits import _away_from_window_edge


def test_a_warm_api_call_reads_nothing_from_the_database(world, api_as, django_assert_num_queries):
    api = api_as(world.acme.backend)
    assert api.get("/api/v1/tenant").status_code == 200
    with django_assert_num_queries(0):
        response = api.get("/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"
    assert int(response["RateLimit-Remaining"]) == int(response["RateLimit-Limit"]) - 2


def test_a_new_rate_limit_applies_to_the_next_call(world, api_as):
    api = api_as(world.acme.backend)
    _away_from_window_edge()
    assert api.get("/api/v1/tenant").status_code == 200
    tenant_config_update(
        actor=Actor.system("tests"),
        tenant=world.acme.tenant,
        config={"rate_limits": {"client_per_minute": 1}},
        partial=True,
    )
    answer = api.get("/api/v1/tenant")
    assert answer.status_code == 429
    assert answer["RateLimit-Limit"] == "1"


def test_a_renamed_tenant_is_shown_at_once(world, api_as):
    api = api_as(world.acme.backend)
    assert api.patch("/api/v1/tenant", {"name": "Acme Renamed"}, format="json").status_code == 200
    assert api.get("/api/v1/tenant").json()["name"] == "Acme Renamed"


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default counts in process memory")
def test_a_warm_api_call_is_one_redis_round_trip(world, api_as, monkeypatch):
    """The token, its client, the address's bad-token count and both rate counters: one script."""
    api = api_as(world.acme.backend)
    _away_from_window_edge()
    assert api.get("/api/v1/tenant").status_code == 200
    round_trips = []
    send = redis.Redis.execute_command
    flush = redis.client.Pipeline.execute
    monkeypatch.setattr(
        redis.Redis, "execute_command", lambda self, *a, **k: round_trips.append(a[0]) or send(self, *a, **k)
    )
    monkeypatch.setattr(
        redis.client.Pipeline, "execute", lambda self, *a, **k: round_trips.append("pipeline") or flush(self, *a, **k)
    )
    first, second = api.get("/api/v1/tenant"), api.get("/api/v1/tenant")
    assert round_trips == ["EVALSHA", "EVALSHA"]
    # Counted once each, in that round trip, not again by the throttle.
    assert int(first["RateLimit-Remaining"]) - int(second["RateLimit-Remaining"]) == 1


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default counts in process memory")
def test_the_counters_counted_with_the_token_read_expire(world, api_as):
    """The script sets a lifetime on a new window's counters, as the pipeline's EXPIRE NX did."""
    api = api_as(world.acme.backend)
    _away_from_window_edge()
    api.get("/api/v1/tenant")
    client = redis_client()
    client.delete(*client.keys("*ratelimit:client:*"))
    response = api.get("/api/v1/tenant")  # counted by the script, on a window it starts
    assert response.status_code == 200
    counters = client.keys("*ratelimit:client:*")
    assert len(counters) == 1
    assert 0 < client.ttl(counters[0]) <= 2 * WINDOW_SECONDS
    assert int(client.get(counters[0])) == 1


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default counts in process memory")
def test_an_api_call_survives_redis_forgetting_the_script(world, api_as):
    """After a Redis restart (SCRIPT FLUSH here), the script is loaded again, not failed on."""
    api = api_as(world.acme.backend)
    _away_from_window_edge()
    assert api.get("/api/v1/tenant").status_code == 200
    redis_client().script_flush()
    first, second = api.get("/api/v1/tenant"), api.get("/api/v1/tenant")
    assert (first.status_code, second.status_code) == (200, 200)
    assert int(first["RateLimit-Remaining"]) - int(second["RateLimit-Remaining"]) == 1
