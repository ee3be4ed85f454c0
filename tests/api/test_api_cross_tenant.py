"""Bolt's admin client against Acme's tenant config and client secrets.

Bolt's writes land in Bolt's tenant only, and Acme's ids answer 404 like missing ones
(decision 7). Each refusal is checked by what Acme's clients see afterwards: its config
as the API and the token endpoint apply it, and its secret still getting tokens.
"""

import pytest
from django.test import Client as DjangoTestClient

from accounts.oidc.jwt_tokens import looks_like_jwt, signing_key_forget
from tenants.models import ClientSecret, TenantConfigRevision
from tests.api.conftest import assert_problem


@pytest.fixture(autouse=True)
def _fresh_signing_keys():
    # A JWT is signed here with a key the test rolls back; no later test may sign with it.
    signing_key_forget()
    yield
    signing_key_forget()


def token_response(client, secret: str):
    """The token endpoint's answer to the client asking for a client-credentials token."""
    body = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    return DjangoTestClient().post("/o/token/", body)


def token_status(client, secret: str) -> int:
    return token_response(client, secret).status_code


# --- Tenant config ----------------------------------------------------------------------------


def test_a_config_patch_changes_only_the_callers_tenant(world, acme_admin, bolt_admin):
    acme_before = acme_admin.get("/api/v1/tenant/config")

    change = {"access_token_format": "jwt", "otp": {"length": 8}}
    response = bolt_admin.patch("/api/v1/tenant/config", change, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    bolt_after = bolt_admin.get("/api/v1/tenant/config").json()
    assert bolt_after["effective"]["otp"]["length"] == 8 and bolt_after["version"] == 2
    acme_after = acme_admin.get("/api/v1/tenant/config")
    assert acme_after.json() == acme_before.json()
    assert acme_after["ETag"] == '"1"'
    assert TenantConfigRevision.objects.filter(tenant=world.acme.tenant).count() == 1
    # What the token endpoint makes of it: Bolt's tokens are JWTs now, Acme's are not.
    assert looks_like_jwt(token_response(world.bolt.backend, world.bolt.backend_secret).json()["access_token"])
    assert not looks_like_jwt(token_response(world.acme.backend, world.acme.backend_secret).json()["access_token"])


# --- Client secrets ---------------------------------------------------------------------------


@pytest.fixture
def acme_secret(world) -> ClientSecret:
    return ClientSecret.all_tenants.get(client=world.acme.backend)


def test_another_tenants_secret_cannot_be_revoked_through_its_client(world, acme_admin, bolt_admin, acme_secret):
    url = f"/api/v1/clients/{world.acme.backend.client_id}/secrets/{acme_secret.pk}"
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200  # cached before

    foreign = bolt_admin.delete(url)

    assert_problem(foreign, 404)
    missing = bolt_admin.delete(f"/api/v1/clients/{world.bolt.backend.client_id}/secrets/{acme_secret.pk + 1000}")
    assert foreign.json() == assert_problem(missing, 404)
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200
    assert ClientSecret.all_tenants.get(pk=acme_secret.pk).revoked_at is None
    # The same request from Acme's own admin client revokes it.
    assert acme_admin.delete(url).status_code == 204
    assert token_status(world.acme.backend, world.acme.backend_secret) == 401


def test_another_tenants_secret_cannot_be_revoked_through_ones_own_client(world, bolt_admin, acme_secret):
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200  # cached before

    response = bolt_admin.delete(f"/api/v1/clients/{world.bolt.backend.client_id}/secrets/{acme_secret.pk}")

    assert_problem(response, 404)
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200
    assert token_status(world.bolt.backend, world.bolt.backend_secret) == 200
    assert ClientSecret.all_tenants.get(pk=acme_secret.pk).revoked_at is None
