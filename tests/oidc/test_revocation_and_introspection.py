import base64

import pytest
import redis
import requests
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


def machine_token(provider, tenant_world) -> str:
    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials"},
        auth=(tenant_world.backend.client_id, tenant_world.backend_secret),
        timeout=10,
    )
    return response.json()["access_token"]


def introspect(provider, tenant_world, token):
    return requests.post(
        provider.endpoint("introspection_endpoint"),
        data={"token": token},
        auth=(tenant_world.backend.client_id, tenant_world.backend_secret),
        timeout=10,
    )


def test_introspection_describes_an_own_tenant_token(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    response = introspect(provider, world.acme, signed_in.token["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.json()
    assert answer["active"] is True
    assert answer["client_id"] == world.acme.app.client_id
    assert answer["sub"] == str(world.alice.uuid)
    assert set(answer["scope"].split()) == {"openid", "profile", "email"}
    assert answer["exp"] > answer["iat"]
    assert "username" not in answer  # never the email address


def test_introspection_of_a_machine_token(provider, world):
    answer = introspect(provider, world.acme, machine_token(provider, world.acme)).json()
    assert answer["active"] is True
    assert answer["client_id"] == world.acme.backend.client_id
    assert "sub" not in answer


def test_another_tenants_token_is_inactive(provider, world, sign_in):
    signed_in = sign_in(world.bolt.app, world.bob)
    assert introspect(provider, world.acme, signed_in.token["access_token"]).json() == {"active": False}
    assert introspect(provider, world.acme, machine_token(provider, world.bolt)).json() == {"active": False}
    assert introspect(provider, world.bolt, signed_in.token["access_token"]).json()["active"] is True


def test_unknown_token_is_inactive(provider, world):
    assert introspect(provider, world.acme, "no-such-token").json() == {"active": False}


def test_introspection_needs_client_authentication(provider, world):
    token = machine_token(provider, world.acme)
    anonymous = requests.post(provider.endpoint("introspection_endpoint"), data={"token": token}, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": "invalid_client"}
    # A bearer token is no client authentication here.
    bearer = requests.post(
        provider.endpoint("introspection_endpoint"),
        data={"token": token},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert bearer.status_code == 401
    wrong = requests.post(
        provider.endpoint("introspection_endpoint"),
        data={"token": token},
        auth=(world.acme.backend.client_id, "hms_wrong"),
        timeout=10,
    )
    assert wrong.status_code == 401


def test_introspection_without_a_token_is_a_bad_request(provider, world):
    response = requests.post(
        provider.endpoint("introspection_endpoint"),
        auth=(world.acme.backend.client_id, world.acme.backend_secret),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_revoking_an_access_token_ends_it_and_its_refresh_token(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    response = requests.post(
        provider.endpoint("revocation_endpoint"),
        data={"token": signed_in.token["access_token"], "client_id": world.acme.app.client_id},
        timeout=10,
    )
    assert response.status_code == 200
    assert introspect(provider, world.acme, signed_in.token["access_token"]).json() == {"active": False}
    refreshed = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": signed_in.token["refresh_token"],
            "client_id": world.acme.app.client_id,
        },
        timeout=10,
    )
    assert refreshed.json()["error"] == "invalid_grant"


def test_revoking_a_refresh_token_with_authlib(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    response = signed_in.rp.revoke_token(
        provider.endpoint("revocation_endpoint"), signed_in.token["refresh_token"], token_type_hint="refresh_token"
    )
    assert response.status_code == 200
    assert introspect(provider, world.acme, signed_in.token["access_token"]).json() == {"active": False}


def test_a_client_cannot_revoke_another_clients_token(provider, world, sign_in):
    signed_in = sign_in(world.acme.app, world.alice)
    response = requests.post(
        provider.endpoint("revocation_endpoint"),
        data={"token": signed_in.token["access_token"]},
        auth=(world.bolt.backend.client_id, world.bolt.backend_secret),
        timeout=10,
    )
    assert response.status_code == 200  # RFC 7009: the same answer, whatever the token
    assert introspect(provider, world.acme, signed_in.token["access_token"]).json()["active"] is True


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the embedded default's cache is in process")
def test_a_warm_introspection_is_one_cache_round_trip_and_no_sql(world, monkeypatch, django_assert_num_queries):
    """The caller's client, the token and the token's client: one MGET."""
    api_client = world.acme.backend
    basic = base64.b64encode(f"{api_client.client_id}:{world.acme.backend_secret}".encode()).decode()
    browser = Client()
    issued = browser.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    token = issued.json()["access_token"]

    def ask():
        return browser.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")

    assert ask().json()["active"] is True
    commands = []
    send = redis.Redis.execute_command
    monkeypatch.setattr(
        redis.Redis, "execute_command", lambda self, *a, **k: commands.append(a[0]) or send(self, *a, **k)
    )
    with django_assert_num_queries(0):
        answer = ask()
    assert answer.json()["active"] is True and answer.json()["client_id"] == api_client.client_id
    assert commands == ["MGET"]
    # A wrong secret is refused the same way.
    wrong = base64.b64encode(f"{api_client.client_id}:not-the-secret".encode()).decode()
    refused = browser.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {wrong}")
    assert refused.status_code == 401 and refused.json() == {"error": "invalid_client"}
