"""A client-credentials token asked for another resource (RFC 8707) is that resource's only.

RFC 9700, 2.3: a token restricted to one resource cannot be replayed by that resource
elsewhere. A JWT says so in ``aud``, which the hub's API checks; an opaque token's resource
is carried in its cache entry (tenants.selectors), so the API's one round trip still tells.
"""

import base64

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tenants.selectors import CachedAccessToken, access_token_cache_key, access_token_checksum

ELSEWHERE = "https://api.acme.example/"
HUB = "http://testserver"  # the issuer the test client's requests derive


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture
def token_for(client, world, django_capture_on_commit_callbacks):
    """A client-credentials token of Acme's backend from the token endpoint, cached as it is
    issued (``primed``, decision 22) or first read from the database at its first use."""

    def fetch(resource: str | None, *, primed: bool = True) -> str:
        body = {"grant_type": "client_credentials", "scope": "tenant:admin"}
        if resource is not None:
            body["resource"] = resource
        with django_capture_on_commit_callbacks(execute=primed):
            response = client.post(
                "/o/token/", body, HTTP_AUTHORIZATION=_basic(world.acme.backend.client_id, world.acme.backend_secret)
            )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    world.acme.backend.allowed_scopes = ["tenant:admin"]
    world.acme.backend.save(update_fields=["allowed_scopes"])
    return fetch


def _api_statuses(token: str, calls: int = 2) -> list[int]:
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    return [api.get("/api/v1/tenant").status_code for _ in range(calls)]


@pytest.mark.parametrize("primed", [True, False], ids=["cached-at-issue", "read-at-first-use"])
def test_an_opaque_token_asked_for_another_resource_is_refused_by_the_hubs_api(token_for, primed):
    # The second call of each is the warm one: the process knows the token's client, one MGET.
    assert _api_statuses(token_for(ELSEWHERE, primed=primed)) == [401, 401]
    assert _api_statuses(token_for(HUB, primed=primed)) == [200, 200]
    assert _api_statuses(token_for(None, primed=primed)) == [200, 200]


class _PickledByThePreviousRelease:
    """Pickles as a CachedAccessToken of six fields did: the class, then its field values."""

    def __init__(self, entry: CachedAccessToken):
        self.values = [entry.token_id, entry.client_id, entry.user_id, entry.scope, entry.expires, entry.issued]

    def __reduce__(self):
        return object.__new__, (CachedAccessToken,), self.values


def test_a_token_cached_before_entries_carried_the_resource_is_read_from_the_database(token_for):
    """An entry a process of the previous release cached (no ``resource``) must not answer
    for the token; the database does, until the entry expires."""
    token = token_for(ELSEWHERE, primed=False)
    key = access_token_cache_key(access_token_checksum(token))
    assert _api_statuses(token, calls=1) == [401]
    cache.set(key, _PickledByThePreviousRelease(cache.get(key)), 60)

    assert _api_statuses(token) == [401, 401]
