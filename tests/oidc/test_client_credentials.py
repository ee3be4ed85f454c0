from datetime import timedelta

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from django.utils import timezone

from tenants.models import ClientSecret
from tenants.services import client_disable, client_secret_rotate, tenant_suspend

pytestmark = pytest.mark.django_db(transaction=True)


def machine(client, secret, method="client_secret_basic") -> OAuth2Session:
    return OAuth2Session(client.client_id, secret, token_endpoint_auth_method=method)


def token_request(provider, client, secret, method="client_secret_basic"):
    """The raw token response, for the refusals Authlib turns into exceptions."""
    data = {"grant_type": "client_credentials"}
    if method == "client_secret_basic":
        return requests.post(
            provider.endpoint("token_endpoint"), data=data, auth=(client.client_id, secret), timeout=10
        )
    data |= {"client_id": client.client_id, "client_secret": secret}
    return requests.post(provider.endpoint("token_endpoint"), data=data, timeout=10)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_token_for_a_good_secret(provider, world, method):
    token = machine(world.acme.backend, world.acme.backend_secret, method).fetch_token(
        provider.endpoint("token_endpoint"), grant_type="client_credentials"
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "users:read"
    assert token["expires_in"] == 3600
    assert "refresh_token" not in token and "id_token" not in token


def test_token_responses_are_never_cached(provider, world):
    good = token_request(provider, world.acme.backend, world.acme.backend_secret)
    bad = token_request(provider, world.acme.backend, "hms_wrong")
    for response in (good, bad):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


def test_both_secrets_work_during_a_rotation_overlap(provider, world, actor):
    old = world.acme.backend_secret
    new = client_secret_rotate(
        actor=actor, client=world.acme.backend, overlap_until=timezone.now() + timedelta(hours=1)
    )
    for secret in (old, new):
        assert token_request(provider, world.acme.backend, secret).status_code == 200


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_wrong_secret_is_refused(provider, world, method):
    response = token_request(provider, world.acme.backend, world.acme.backend_secret + "x", method)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_another_clients_secret_is_refused(provider, world):
    response = token_request(provider, world.acme.backend, world.bolt.backend_secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_expired_secret_is_refused(provider, world):
    ClientSecret.all_tenants.filter(client=world.acme.backend).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = token_request(provider, world.acme.backend, world.acme.backend_secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_disabled_client_is_refused(provider, world, actor):
    client_disable(actor=actor, client=world.acme.backend)
    response = token_request(provider, world.acme.backend, world.acme.backend_secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_of_a_suspended_tenant_is_refused(provider, world, actor):
    tenant_suspend(actor=actor, tenant=world.acme.tenant)
    response = token_request(provider, world.acme.backend, world.acme.backend_secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unknown_client_is_refused(provider, world):
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials"},
        auth=("no-such-client", "hms_whatever"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!not-base64!!!", "Basic " + "bm8tY29sb24=", "Basic", "Bearer abc"],
)
def test_malformed_basic_credentials_are_refused_cleanly(provider, world, authorization):
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
        timeout=10,
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "invalid_request")


def test_scope_outside_the_clients_list_is_refused(provider, world):
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials", "scope": "users:read users:write"},
        auth=(world.acme.backend.client_id, world.acme.backend_secret),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
def test_grants_not_offered_are_refused(provider, world, grant_type):
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": grant_type, "username": "alice@example.org", "password": "x", "device_code": "x"},
        auth=(world.acme.backend.client_id, world.acme.backend_secret),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
