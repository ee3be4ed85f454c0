"""A call that is not served spends no rate budget: a leaked token replayed after its
revocation, or from an address over its bad-token budget, must not make the tenant's
healthy clients get 429. A warm call is counted in the same Redis command that reads its
token (harbourmaster.api.throttling), so these run against Redis."""

import base64

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from harbourmaster.actors import Actor
from harbourmaster.api.throttling import WINDOW_SECONDS, redis_client
from tenants.services import client_disable, tenant_config_update
from tests.api.test_api_rate_limits import _away_from_window_edge, _limit

pytestmark = pytest.mark.skipif(
    not django_settings.REDIS_URL, reason="needs REDIS_URL: the embedded default counts in process memory"
)

ATTACKER, BYSTANDER = "203.0.113.7", "198.51.100.20"
TENANT_PER_MINUTE = 5
JWT_PATH = "/api/v1/purposes"  # the backend's scope, users:read, reads it


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _revoke(tenant_world, token: str) -> None:
    """Revoked by the client it was issued to, at the revocation endpoint (RFC 7009)."""
    response = APIClient().post(
        "/o/revoke_token/",
        {"token": token},
        HTTP_AUTHORIZATION=_basic(tenant_world.backend.client_id, tenant_world.backend_secret),
    )
    assert response.status_code == 200


def _bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def _tenant_calls_counted(tenant) -> int:
    client = redis_client()
    return sum(int(client.get(key)) for key in client.keys(f"*ratelimit:tenant:{tenant.pk}:*"))


@pytest.fixture
def budgets(world, settings):
    """The tenant's budget is the tighter one, and strangers' bad tokens are not the limit."""
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 100
    _limit(world.acme.tenant, tenant_per_minute=TENANT_PER_MINUTE, client_per_minute=100)
    _away_from_window_edge()


def _bystander_sees(world, api_as, counted_before: int) -> None:
    """The tenant's other client is served, and only the calls that were served count."""
    response = api_as(world.acme.app).get("/api/v1/tenant", REMOTE_ADDR=BYSTANDER)
    assert response.status_code == 200
    assert int(response["RateLimit-Remaining"]) == TENANT_PER_MINUTE - counted_before - 1


def test_a_revoked_opaque_token_replayed_spends_none_of_the_tenants_budget(world, api_as, budgets):
    leaked = api_as(world.acme.backend)
    token = leaked._credentials["HTTP_AUTHORIZATION"].split()[1]
    # Served twice: the second is counted in the round trip that reads the token.
    assert [leaked.get("/api/v1/tenant", REMOTE_ADDR=ATTACKER).status_code for _ in range(2)] == [200, 200]
    _revoke(world.acme, token)

    replays = [leaked.get("/api/v1/tenant", REMOTE_ADDR=ATTACKER).status_code for _ in range(2 * TENANT_PER_MINUTE)]

    assert set(replays) == {401}
    _bystander_sees(world, api_as, counted_before=2)


@pytest.fixture
def jwt_token(world, actor, budgets):
    """A machine JWT of acme's backend (scope users:read), fetched as a client would."""
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config={"access_token_format": "jwt"}, partial=True)
    response = APIClient().post(
        "/o/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=_basic(world.acme.backend.client_id, world.acme.backend_secret),
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert token.count(".") == 2
    return token


def test_a_revoked_jwt_replayed_spends_none_of_the_tenants_budget(world, api_as, jwt_token):
    leaked = _bearer(jwt_token)
    assert [leaked.get(JWT_PATH, REMOTE_ADDR=ATTACKER).status_code for _ in range(2)] == [200, 200]
    _revoke(world.acme, jwt_token)

    replays = [leaked.get(JWT_PATH, REMOTE_ADDR=ATTACKER).status_code for _ in range(2 * TENANT_PER_MINUTE)]

    assert set(replays) == {401}
    _bystander_sees(world, api_as, counted_before=2)


def test_a_jwt_of_a_disabled_client_spends_none_of_the_tenants_budget(world, api_as, jwt_token):
    """Its token's entries say nothing of it: the count taken with the read is given back."""
    leaked = _bearer(jwt_token)
    assert [leaked.get(JWT_PATH, REMOTE_ADDR=ATTACKER).status_code for _ in range(2)] == [200, 200]
    client_disable(actor=Actor.system("tests"), client=world.acme.backend)

    replays = [leaked.get(JWT_PATH, REMOTE_ADDR=ATTACKER).status_code for _ in range(2 * TENANT_PER_MINUTE)]

    assert set(replays) == {401}
    _bystander_sees(world, api_as, counted_before=2)
    assert _tenant_calls_counted(world.acme.tenant) == 3


def test_an_address_over_its_bad_token_budget_spends_none_of_the_tenants_budget(world, api_as, budgets, settings):
    """Even with a token that is still good: the address is refused before it is looked at."""
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 2
    leaked = api_as(world.acme.backend)
    assert [leaked.get("/api/v1/tenant", REMOTE_ADDR=ATTACKER).status_code for _ in range(2)] == [200, 200]
    garbage = [_bearer(f"not-a-token-{n}").get("/api/v1/tenant", REMOTE_ADDR=ATTACKER).status_code for n in range(2)]
    assert garbage == [401, 401]

    replays = [leaked.get("/api/v1/tenant", REMOTE_ADDR=ATTACKER).status_code for _ in range(2 * TENANT_PER_MINUTE)]

    assert set(replays) == {429}
    _bystander_sees(world, api_as, counted_before=2)


def test_a_served_call_counts_exactly_once(world, api_as, budgets):
    """Cold (counted by the throttle) and warm (counted with the token's read) alike."""
    api = api_as(world.acme.backend)
    answers = [api.get("/api/v1/tenant", REMOTE_ADDR=ATTACKER) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [int(answer["RateLimit-Remaining"]) for answer in answers] == [4, 3, 2]
    assert _tenant_calls_counted(world.acme.tenant) == 3
    counter = redis_client().keys(f"*ratelimit:tenant:{world.acme.tenant.pk}:*")[0]
    assert 0 < redis_client().ttl(counter) <= 2 * WINDOW_SECONDS
