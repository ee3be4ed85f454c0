import base64
import hashlib
from datetime import timedelta

import pytest
from oauth2_provider.models import get_access_token_model
from rest_framework.test import APIClient

from harbourmaster.actors import Actor
from tenants.services import client_disable, tenant_config_update, tenant_suspend
from tests.api.conftest import assert_problem

SYSTEM = Actor.system("tests")


def _assert_unauthorised(response):
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="harbourmaster-api"'


def test_no_token_is_refused_with_www_authenticate(world):
    _assert_unauthorised(APIClient().get("/api/v1/tenant"))


@pytest.mark.parametrize("header", ["Bearer", "Bearer nonsense", "Bearer a b", "Bearer \u00e9t\u00e9"])
def test_malformed_or_unknown_token_is_refused(world, header):
    _assert_unauthorised(APIClient().get("/api/v1/tenant", HTTP_AUTHORIZATION=header))


def test_expired_token_is_refused(world, issue_token):
    token = issue_token(world.acme.backend, expires_in=timedelta(seconds=-1))
    _assert_unauthorised(APIClient().get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Bearer {token}"))


def test_disabled_clients_token_is_refused(world, api_as):
    api = api_as(world.acme.backend)
    assert api.get("/api/v1/tenant").status_code == 200
    client_disable(actor=SYSTEM, client=world.acme.backend)
    _assert_unauthorised(api.get("/api/v1/tenant"))


def test_suspended_tenants_token_is_refused(world, api_as):
    api = api_as(world.acme.backend)
    tenant_suspend(actor=SYSTEM, tenant=world.acme.tenant)
    _assert_unauthorised(api.get("/api/v1/tenant"))


def test_user_token_from_a_sign_in_is_not_an_api_token(world, issue_token):
    token = issue_token(world.acme.backend)
    get_access_token_model().objects.filter(application=world.acme.backend).update(user=world.alice)
    _assert_unauthorised(APIClient().get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Bearer {token}"))


def test_missing_scope_is_forbidden(world, api_as):
    api = api_as(world.acme.backend, ["users:read"])
    assert_problem(api.get("/api/v1/tenant"), 403)
    assert_problem(api.get("/api/v1/clients"), 403)
    assert api.get("/api/v1/purposes").status_code == 200
    assert_problem(api.post("/api/v1/purposes", {}, format="json"), 403)


def test_address_sending_bad_tokens_is_throttled_before_lookup(world, settings, api_as):
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 3
    stranger = APIClient(REMOTE_ADDR="198.51.100.9")
    answers = [stranger.get("/api/v1/tenant", HTTP_AUTHORIZATION="Bearer guess").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    good_token_same_address = api_as(world.acme.backend)
    assert good_token_same_address.get("/api/v1/tenant", REMOTE_ADDR="198.51.100.9").status_code == 429
    assert good_token_same_address.get("/api/v1/tenant", REMOTE_ADDR="198.51.100.10").status_code == 200


BALANCER = "10.0.0.5"


def _guesses(count: int, **addresses) -> list[int]:
    return [
        APIClient(**addresses).get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Bearer guess-{n}").status_code
        for n in range(count)
    ]


def test_behind_a_balancer_a_stranger_sending_bad_tokens_holds_up_only_itself(world, settings, api_as):
    """TRUSTED_PROXY_COUNT: every caller arrives from the balancer; X-Forwarded-For says who."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 3
    assert _guesses(4, REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR="203.0.113.7") == [401, 401, 401, 429]
    # What the stranger writes in front of the balancer's entry buys it nothing.
    assert _guesses(1, REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7") == [429]

    tenant = api_as(world.acme.backend)
    assert tenant.get("/api/v1/tenant", REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR="198.51.100.20").status_code == 200


def test_a_caller_around_the_balancers_is_counted_by_its_own_address(world, settings, api_as):
    """A header shorter than TRUSTED_PROXY_COUNT did not come through the balancers: the peer
    is the client, and the addresses it claims spend nobody else's budget."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 3
    tenants_address = "198.51.100.20"
    stranger = {"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": tenants_address}
    assert _guesses(4, **stranger) == [401, 401, 401, 429]

    through_the_balancers = {"REMOTE_ADDR": BALANCER, "HTTP_X_FORWARDED_FOR": f"{tenants_address}, 10.0.0.9"}
    assert api_as(world.acme.backend).get("/api/v1/tenant", **through_the_balancers).status_code == 200
    # And through the balancers, callers are told apart: this stranger is not the first one.
    behind = {"REMOTE_ADDR": BALANCER, "HTTP_X_FORWARDED_FOR": "192.0.2.1, 10.0.0.9"}
    assert _guesses(4, **behind) == [401, 401, 401, 429]
    assert api_as(world.acme.backend).get("/api/v1/tenant", **through_the_balancers).status_code == 200


def test_ipv6_callers_share_the_budget_of_their_64(world, settings, api_as):
    """Stepping through the addresses of one /64 escapes nothing; another /64 is someone else."""
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 3
    answers = [_guesses(1, REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}")[0] for n in range(4)]
    assert answers == [401, 401, 401, 429]
    tenant = api_as(world.acme.backend)
    assert tenant.get("/api/v1/tenant", REMOTE_ADDR="2001:db8:1:2:ffff::1").status_code == 429
    assert tenant.get("/api/v1/tenant", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


def _token_from_the_token_endpoint(client, world) -> str:
    response = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "tenant:admin"},
        HTTP_AUTHORIZATION=_basic(world.acme.backend.client_id, world.acme.backend_secret),
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_token_from_the_token_endpoint_works_until_revoked(client, world):
    world.acme.backend.allowed_scopes = ["tenant:admin"]
    world.acme.backend.save(update_fields=["allowed_scopes"])
    token = _token_from_the_token_endpoint(client, world)
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/tenant").json()["slug"] == "acme"
    revoked = client.post(
        "/o/revoke_token/",
        {"token": token},
        HTTP_AUTHORIZATION=_basic(world.acme.backend.client_id, world.acme.backend_secret),
    )
    assert revoked.status_code == 200
    _assert_unauthorised(api.get("/api/v1/tenant"))


def test_a_token_revoked_by_staff_in_the_admin_stops_working_at_once(client, world):
    world.acme.backend.allowed_scopes = ["tenant:admin"]
    world.acme.backend.save(update_fields=["allowed_scopes"])
    token = _token_from_the_token_endpoint(client, world)
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/tenant").status_code == 200  # now cached

    client.force_login(world.staff)
    row = get_access_token_model().objects.get(token_checksum=hashlib.sha256(token.encode()).hexdigest())
    answer = client.post(
        "/admin/oauth2_provider/accesstoken/", {"action": "revoke_tokens", "_selected_action": [row.pk], "index": 0}
    )
    assert answer.status_code == 302
    _assert_unauthorised(api.get("/api/v1/tenant"))


def test_staff_revoking_a_jwt_access_token_are_told_it_lives_until_it_expires(client, world):
    tenant_config_update(
        actor=Actor.system("tests"), tenant=world.acme.tenant, config={"access_token_format": "jwt"}, partial=True
    )
    world.acme.backend.allowed_scopes = ["tenant:admin"]
    world.acme.backend.save(update_fields=["allowed_scopes"])
    token = _token_from_the_token_endpoint(client, world)
    client.force_login(world.staff)
    row = get_access_token_model().objects.get(token_checksum=hashlib.sha256(token.encode()).hexdigest())
    answer = client.post(
        "/admin/oauth2_provider/accesstoken/",
        {"action": "revoke_tokens", "_selected_action": [row.pk], "index": 0},
        follow=True,
    )
    shown = [str(message) for message in answer.context["messages"]]
    assert any("stay valid until they expire. Disable the client" in message for message in shown), shown
