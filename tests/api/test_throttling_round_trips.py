"""The hot path of an API call: no database once warm, and config changes still apply at once."""

import pytest
import redis
from django.conf import settings

from harbourmaster.actors import Actor
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
    """The token, its client, the address's bad-token count and both rate counters: one pipeline."""
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
    assert round_trips == ["pipeline", "pipeline"]
    # Counted once each, in that round trip, not again by the throttle.
    assert int(first["RateLimit-Remaining"]) - int(second["RateLimit-Remaining"]) == 1
