"""The provider's machine endpoints behind a failure budget per client address
(accounts.oidc.failure_budget): a stranger who keeps guessing is told to wait; others,
and callers that do not fail, are served as before and pay nothing for it."""

import pytest
import redis
from django.conf import settings
from django.test import Client as DjangoTestClient
from django.test import override_settings

from tests.oidc.test_cross_tenant_tokens import client_credentials

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_budget")]

BUDGET = 3
APP_ORIGIN = "https://app.acme.example"  # a single-page app calling the hub from the browser
MACHINE_ENDPOINTS = ["/o/token/", "/o/revoke_token/", "/o/introspect/", "/o/userinfo/"]


@pytest.fixture
def small_budget(settings):
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = BUDGET


def caller(address: str) -> DjangoTestClient:
    return DjangoTestClient(REMOTE_ADDR=address)


def token_request(client, world, secret: str | None = None):
    credentials = client_credentials(world.acme)
    if secret is not None:
        credentials["client_secret"] = secret
    return client.post("/o/token/", {"grant_type": "client_credentials", **credentials})


def test_a_stranger_guessing_secrets_is_told_to_wait_and_others_are_served(world):
    stranger, tenant = caller("203.0.113.9"), caller("198.51.100.7")
    answers = [token_request(stranger, world, secret="guess") for _ in range(BUDGET)]
    assert [answer.status_code for answer in answers] == [401] * BUDGET
    throttled = token_request(stranger, world)  # even the right secret: the address spent its budget
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "slow_down"
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled["Cache-Control"] == "no-store"
    assert token_request(tenant, world).status_code == 200


def public(world) -> dict:
    return {"client_id": world.acme.app.client_id}


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(
            lambda c, w: c.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": "made-up", **public(w)}),
            id="made-up refresh token, public client",
        ),
        pytest.param(
            lambda c, w: c.post(
                "/o/token/",
                {
                    "grant_type": "authorization_code",
                    "code": "made-up",
                    "redirect_uri": w.acme.app.redirect_uris.split()[0],
                    "code_verifier": "x" * 43,
                    **public(w),
                },
            ),
            id="made-up code, public client",
        ),
        pytest.param(
            lambda c, w: c.post("/o/token/", {"grant_type": "client_credentials", "client_id": "no-such-client"}),
            id="unknown client",
        ),
        pytest.param(
            lambda c, w: c.post(
                "/o/introspect/", {"token": "t", "client_id": w.acme.backend.client_id, "client_secret": "guess"}
            ),
            id="introspection secret",
        ),
        pytest.param(
            lambda c, w: c.post(
                "/o/revoke_token/", {"token": "t", "client_id": w.acme.backend.client_id, "client_secret": "guess"}
            ),
            id="revocation secret",
        ),
    ],
)
def test_every_machine_endpoint_spends_the_budget(world, attempt):
    stranger = caller("203.0.113.10")
    answers = [attempt(stranger, world).status_code for _ in range(BUDGET)]
    assert all(status in (400, 401) for status in answers), answers
    assert attempt(stranger, world).status_code == 429
    assert token_request(stranger, world).status_code == 429  # one budget for all of them
    assert token_request(caller("198.51.100.8"), world).status_code == 200


def test_what_a_proven_client_meets_in_normal_use_spends_nothing(world):
    """An app's backend refreshing for many users meets expired and revoked refresh tokens,
    and expired access tokens at userinfo: its address must not be locked out for that."""
    backend = caller("198.51.100.13")
    for _ in range(BUDGET * 2):
        spent = backend.post(
            "/o/token/", {"grant_type": "refresh_token", "refresh_token": "expired", **client_credentials(world.acme)}
        )
        assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
        assert backend.get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer expired").status_code == 401
    assert token_request(backend, world).status_code == 200


def test_requests_that_succeed_or_are_merely_malformed_spend_nothing(world):
    client = caller("198.51.100.9")
    for _ in range(BUDGET * 2):
        assert token_request(client, world).status_code == 200
        unsupported = client.post("/o/token/", {"grant_type": "password", **client_credentials(world.acme)})
        assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    assert token_request(client, world).status_code == 200


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default's cache is in process")
def test_a_caller_that_never_failed_costs_no_extra_round_trip(world, monkeypatch):
    client = caller("198.51.100.11")
    assert token_request(client, world).status_code == 200
    commands = []
    send = redis.Redis.execute_command
    monkeypatch.setattr(
        redis.Redis, "execute_command", lambda self, *a, **k: commands.append(a[0]) or send(self, *a, **k)
    )
    assert token_request(client, world).status_code == 200
    # The client's entry read, and no failure count (the new token is cached after the
    # commit, which this test's transaction does not reach).
    assert commands == ["GET"], commands


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_behind_a_balancer_the_budget_is_the_clients_not_the_balancers(world):
    balancer = "10.0.0.2"
    stranger = DjangoTestClient(REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="203.0.113.12")
    tenant = DjangoTestClient(REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="198.51.100.12")
    for _ in range(BUDGET):
        token_request(stranger, world, secret="guess")
    assert token_request(stranger, world).status_code == 429
    assert token_request(tenant, world).status_code == 200


def made_up_code(client, world, **headers):
    """What a single-page app (a public client) sends when its code is not the hub's."""
    app = world.acme.app
    return client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": "made-up",
            "redirect_uri": app.redirect_uris.split()[0],
            "code_verifier": "x" * 43,
            "client_id": app.client_id,
        },
        **headers,
    )


def preflight(client, path: str):
    return client.options(path, HTTP_ORIGIN=APP_ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")


def test_a_browser_app_over_its_budget_can_read_the_429_and_its_wait(world):
    browser = caller("203.0.113.20")
    for _ in range(BUDGET):
        assert made_up_code(browser, world, HTTP_ORIGIN=APP_ORIGIN).status_code == 400
    throttled = made_up_code(browser, world, HTTP_ORIGIN=APP_ORIGIN)
    assert throttled.status_code == 429 and throttled.json()["error"] == "slow_down"
    assert throttled["Access-Control-Allow-Origin"] == "*"
    assert throttled["Access-Control-Expose-Headers"] == "Retry-After"
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "Access-Control-Allow-Credentials" not in throttled  # no cookies here to share


def test_a_429_to_a_request_without_an_origin_carries_no_cors_headers(world):
    backend = caller("203.0.113.21")
    for _ in range(BUDGET):
        token_request(backend, world, secret="guess")
    throttled = token_request(backend, world)
    assert throttled.status_code == 429
    assert not [name for name in throttled.headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("path", MACHINE_ENDPOINTS)
def test_a_preflight_from_an_address_over_its_budget_is_not_refused(world, path):
    browser = caller("203.0.113.22")
    for _ in range(BUDGET):
        made_up_code(browser, world, HTTP_ORIGIN=APP_ORIGIN)
    assert made_up_code(browser, world).status_code == 429
    answer = preflight(browser, path)
    assert answer.status_code == 200 and "OPTIONS" in answer["Allow"]


def test_preflights_spend_no_budget(world):
    browser = caller("203.0.113.23")
    for _ in range(BUDGET - 1):
        assert made_up_code(browser, world).status_code == 400
    for path in MACHINE_ENDPOINTS * BUDGET:
        assert preflight(browser, path).status_code == 200
    assert made_up_code(browser, world).status_code == 400  # the last failure it had left
    assert made_up_code(browser, world).status_code == 429
