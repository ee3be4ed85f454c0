import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from harbourmaster.actors import Actor
from harbourmaster.api.throttling import WINDOW_SECONDS
from tenants.services import tenant_config_update
from tests.api.conftest import assert_problem


def _limit(tenant, **limits):
    tenant_config_update(actor=Actor.system("tests"), tenant=tenant, config={"rate_limits": limits}, partial=True)


def _away_from_window_edge():
    """Counters live in fixed one-minute windows; don't start a test a moment before one ends."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 5:
        time.sleep(left + 0.1)


def test_client_limit_answers_429_with_retry_after_and_ratelimit_headers(world, api_as):
    _limit(world.acme.tenant, client_per_minute=3)
    api = api_as(world.acme.backend)
    _away_from_window_edge()
    answers = [api.get("/api/v1/tenant") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    assert answers[0]["RateLimit-Limit"] == "3"
    assert_problem(answers[3], 429)
    assert 1 <= int(answers[3]["Retry-After"]) <= WINDOW_SECONDS


def test_tenant_limit_is_shared_by_all_its_clients(world, api_as):
    _limit(world.acme.tenant, tenant_per_minute=2)
    _away_from_window_edge()
    first, second = api_as(world.acme.backend), api_as(world.acme.app)
    assert first.get("/api/v1/tenant").status_code == 200
    assert second.get("/api/v1/tenant").status_code == 200
    assert first.get("/api/v1/tenant").status_code == 429
    assert second.get("/api/v1/tenant").status_code == 429


def test_one_tenants_traffic_does_not_limit_another(world, api_as):
    _limit(world.acme.tenant, tenant_per_minute=1)
    _away_from_window_edge()
    acme, bolt = api_as(world.acme.backend), api_as(world.bolt.backend)
    acme.get("/api/v1/tenant")
    assert acme.get("/api/v1/tenant").status_code == 429
    assert bolt.get("/api/v1/tenant").status_code == 200


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default's cache is per process")
def test_limit_is_reached_across_processes_sharing_redis(world, api_as):
    _limit(world.acme.tenant, client_per_minute=5)
    api = api_as(world.acme.backend)
    _away_from_window_edge()
    other_process = (
        "import django, time; django.setup();"
        "from harbourmaster.api.throttling import _count, WINDOW_SECONDS;"
        "window = int(time.time() // WINDOW_SECONDS) * WINDOW_SECONDS;"
        f"[_count('client:{world.acme.backend.pk}', window) for _ in range(3)]"
    )
    environment = os.environ | {"DJANGO_SETTINGS_MODULE": "harbourmaster.settings"}
    subprocess.run(
        [sys.executable, "-c", other_process], check=True, env=environment, cwd=settings.BASE_DIR, timeout=60
    )
    assert [api.get("/api/v1/tenant").status_code for _ in range(3)] == [200, 200, 429]
