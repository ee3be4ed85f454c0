import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from rest_framework.test import APIClient

ALL_TENANT_SCOPES = ["tenant:admin", "users:read", "users:write", "consents:write", "events:read"]


@pytest.fixture
def issue_token(db):
    """A client-credentials access token for ``client``, as the token endpoint would issue it."""

    def issue(client, scopes=("tenant:admin",), expires_in=timedelta(hours=1)) -> str:
        raw = secrets.token_urlsafe(30)
        get_access_token_model().objects.create(
            application=client, user=None, token=raw, expires=timezone.now() + expires_in, scope=" ".join(scopes)
        )
        return raw

    return issue


@pytest.fixture
def api_as(issue_token):
    """An API client authenticated as ``client`` with ``scopes``."""

    def make(client, scopes=("tenant:admin",)) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(client, scopes)}")
        return api

    return make


@pytest.fixture
def acme_admin(world, api_as):
    return api_as(world.acme.backend, ALL_TENANT_SCOPES)


@pytest.fixture
def bolt_admin(world, api_as):
    return api_as(world.bolt.backend, ALL_TENANT_SCOPES)


def assert_problem(response, status: int, *, path: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("urn:harbourmaster:problem:")
    if path is not None:
        assert path in [error["path"] for error in body["errors"]], body
    return body
