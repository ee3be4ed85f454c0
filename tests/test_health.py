"""Liveness and readiness probes, as a load balancer or Kubernetes sees them."""

import pytest
from django.db.utils import OperationalError
from django.test import override_settings

from harbourmaster import health

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Port 9 (discard) on the loopback: refused at once, no timeout to wait for.
        "LOCATION": "redis://127.0.0.1:9/0",
    }
}


def assert_never_cached(response) -> None:
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-cache", "no-store", "must-revalidate", "max-age=0"} <= cache_control


def assert_no_session(response) -> None:
    assert "hm_session" not in response.cookies
    assert "csrftoken" not in response.cookies


def test_live_answers_ok_without_touching_the_database(client):
    # No django_db mark: pytest-django fails the test if the view opens a connection.
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert_never_cached(response)
    assert_no_session(response)


@pytest.mark.django_db
def test_ready_reports_each_check_ok(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}
    assert_never_cached(response)
    assert_no_session(response)


@pytest.mark.django_db
def test_ready_needs_no_authentication_and_ignores_a_bad_session(client):
    client.cookies["hm_session"] = "not-a-session"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer not-a-token"

    response = client.get("/health/ready")

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["database", "cache", "broker"])
def test_ready_answers_503_naming_the_failing_check(client, monkeypatch, failing):
    def broken() -> None:
        raise OperationalError("connection to server at 10.0.0.5 failed: password authentication failed")

    monkeypatch.setitem(health.CHECKS, failing, broken)

    response = client.get("/health/ready")

    assert response.status_code == 503
    expected = {name: "ok" for name in ("database", "cache", "broker")} | {failing: "failing"}
    assert response.json() == {"status": "failing", "checks": expected}
    assert b"password" not in response.content  # the reason goes to the log, not to whoever asks
    assert_never_cached(response)


@pytest.mark.django_db
@override_settings(CACHES=UNREACHABLE_REDIS)
def test_ready_answers_503_when_redis_cache_is_unreachable(client):
    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failing"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_ready_answers_503_when_a_check_raises_anything_at_all(client, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "database", lambda: 1 / 0)

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failing"


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_probes_only_answer_get(client, path):
    assert client.post(path).status_code == 405


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_probes_are_not_redirected_to_https_while_pages_are(client):
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert client.get("/admin/login/").status_code == 301
