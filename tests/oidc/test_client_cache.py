"""Client authentication and access tokens are cached, and a change still applies at once,
also when another process makes it (the cache is shared; the test's own process serves)."""

import base64
import os
import subprocess
import sys

import psycopg
import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_access_token_model

from tenants.selectors import (
    CachedAccessToken,
    CachedClient,
    access_token_cache_key,
    access_token_checksum,
    client_cache_key,
    client_cached,
)
from tenants.services import client_update, tenant_suspend

pytestmark = pytest.mark.django_db(transaction=True)


def token_request(provider, client, secret):
    return requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, secret),
        timeout=10,
    )


def api_get(provider, token):
    return requests.get(f"{provider.issuer}/api/v1/purposes", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def in_another_process(code: str) -> None:
    """Run ``code`` in a fresh Python process on the test database and the same Redis."""
    database = settings.DATABASES["default"]
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    environment = os.environ | {"DJANGO_SETTINGS_MODULE": "harbourmaster.settings", "DATABASE_URL": url}
    program = "import django; django.setup()\nfrom harbourmaster.actors import Actor\n" + code
    subprocess.run([sys.executable, "-c", program], check=True, env=environment, cwd=settings.BASE_DIR, timeout=120)


def test_client_disabled_by_another_process_stops_at_once(provider, world):
    backend = world.acme.backend
    token = token_request(provider, backend, world.acme.backend_secret).json()["access_token"]
    assert api_get(provider, token).status_code == 200
    assert isinstance(cache.get(client_cache_key(backend.client_id)), CachedClient)

    in_another_process(
        "from tenants.models import Client\nfrom tenants.services import client_disable\n"
        f"client_disable(actor=Actor.system('tests'), client=Client.objects.get(pk={backend.pk}))"
    )

    assert token_request(provider, backend, world.acme.backend_secret).status_code == 401
    assert api_get(provider, token).status_code == 401


def test_secret_rotated_by_another_process_stops_at_once(provider, world):
    backend = world.acme.backend
    assert token_request(provider, backend, world.acme.backend_secret).status_code == 200

    in_another_process(
        "from tenants.models import Client\nfrom tenants.services import client_secret_rotate\n"
        f"print(client_secret_rotate(actor=Actor.system('tests'), client=Client.objects.get(pk={backend.pk})))"
    )

    assert token_request(provider, backend, world.acme.backend_secret).status_code == 401


def test_suspending_the_tenant_refuses_its_cached_clients(provider, world, actor):
    token = token_request(provider, world.acme.backend, world.acme.backend_secret).json()["access_token"]
    assert api_get(provider, token).status_code == 200
    tenant_suspend(actor=actor, tenant=world.acme.tenant)
    assert token_request(provider, world.acme.backend, world.acme.backend_secret).status_code == 401
    assert api_get(provider, token).status_code == 401


def test_a_changed_client_is_read_from_the_database_and_not_cached_again_at_once(world, actor):
    backend, key = world.acme.backend, client_cache_key(world.acme.backend.client_id)
    assert client_cached(client_id=backend.client_id).client.name == "acme backend"
    client_update(actor=actor, client=backend, changes={"name": "renamed"})
    assert client_cached(client_id=backend.client_id).client.name == "renamed"
    # A tombstone stands in the entry's place: a slower reader that saw the old row before
    # the change cannot put it back (add is SET NX), and nobody else can for a while.
    assert cache.get(key) is not None and not isinstance(cache.get(key), CachedClient)


def test_a_cached_client_is_served_without_the_database(world, django_assert_num_queries):
    client_cached(client_id=world.acme.backend.client_id)
    with django_assert_num_queries(0):
        cached = client_cached(client_id=world.acme.backend.client_id)
    assert cached.secret_matches(world.acme.backend_secret)
    assert not cached.secret_matches(world.acme.backend_secret + "x")
    assert cached.client.tenant.slug == "acme"


def test_a_client_token_is_cached_as_it_is_issued_and_its_row_committed(provider, world):
    backend = world.acme.backend
    answer = token_request(provider, backend, world.acme.backend_secret)
    assert answer.status_code == 200
    raw = answer.json()["access_token"]
    # Its first use needs no SQL: the entry is there before anyone asked for it ...
    cached = cache.get(access_token_cache_key(access_token_checksum(raw)))
    assert isinstance(cached, CachedAccessToken)
    assert cached.client_id == backend.client_id and cached.user_id is None
    # ... and the row it stands for is committed, for introspection, revocation and the admin.
    row = get_access_token_model().objects.get(token_checksum=access_token_checksum(raw))
    assert row.application_id == backend.pk and row.scope == cached.scope
    assert api_get(provider, raw).status_code == 200


def test_a_client_token_is_committed_without_waiting_for_the_disk(world):
    """A lost client token costs its client one more token request; a lost sign-in token
    would sign a person out, so those wait for the flush (decision 22)."""
    if connection.vendor != "postgresql":
        pytest.fail("the relaxed commit is PostgreSQL's; run this suite with DATABASE_URL")
    browser = Client()
    credentials = base64.b64encode(f"{world.acme.backend.client_id}:{world.acme.backend_secret}".encode()).decode()
    with CaptureQueriesContext(connection) as queries:
        answer = browser.post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {credentials}"
        )
    assert answer.status_code == 200
    # One round trip writes: the relaxed commit and the row, as one implicit transaction
    # (the other statements read the client, not cached yet).
    writes = [query["sql"] for query in queries.captured_queries if "INSERT INTO" in query["sql"]]
    assert len(writes) == 1 and len(queries.captured_queries) <= 3  # the 2 others read the client
    assert "set_config(" in writes[0] and "synchronous_commit" in writes[0] and ") AS relaxed" in writes[0]
    # Relaxed for that one transaction only: the connection's later commits wait as usual.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    # Committed, and seen by another connection, with what the token answer says.
    raw = answer.json()["access_token"]
    with psycopg.connect(**_libpq_params(), autocommit=True) as other:
        row = other.execute(
            "SELECT application_id, user_id, scope, expires > now() FROM oauth2_provider_accesstoken"
            " WHERE token_checksum = %s",
            [access_token_checksum(raw)],
        ).fetchone()
    assert row == (world.acme.backend.pk, None, answer.json()["scope"], True)
    # Cached as it was issued: its first use reads no SQL.
    assert cache.get(access_token_cache_key(access_token_checksum(raw))) is not None


def _libpq_params() -> dict:
    params = connection.get_connection_params()
    return {name: params[name] for name in ("dbname", "user", "password", "host", "port") if params.get(name)}


def test_a_client_token_inside_a_transaction_commits_with_it(world):
    """Inside a caller's transaction the token is written with it, not committed on its own."""
    browser = Client()
    credentials = base64.b64encode(f"{world.acme.backend.client_id}:{world.acme.backend_secret}".encode()).decode()
    with pytest.raises(RuntimeError), transaction.atomic():
        answer = browser.post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {credentials}"
        )
        assert answer.status_code == 200
        # The caller's transaction keeps waiting for the disk: the token does not relax it.
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
        raise RuntimeError("rolled back")
    checksum = access_token_checksum(answer.json()["access_token"])
    assert not get_access_token_model().objects.filter(token_checksum=checksum).exists()
    assert cache.get(access_token_cache_key(checksum)) is None  # primed only on commit
