"""Concurrent pushes of one user end in one user (PostgreSQL: real concurrent transactions)."""

import threading

import pytest
from django.db import connection

from accounts.models import Membership, User
from events.models import Event
from tenants.models import IdempotencyKey

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so nothing races",
    ),
    pytest.mark.django_db(transaction=True),
]
THREADS = 8


def race(api_as, client, url: str, body: dict, headers: dict | None = None, scopes=("users:write",)) -> list:
    """Send the same request from THREADS threads at once; return their responses."""
    apis = [api_as(client, list(scopes)) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    responses = [None] * THREADS

    def send(index: int) -> None:
        try:
            barrier.wait()
            responses[index] = apis[index].post(url, body, format="json", **(headers or {}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_concurrent_pushes_of_a_new_email_end_in_one_user(world, api_as):
    responses = race(api_as, world.acme.backend, "/api/v1/users", {"email": "dora@example.org", "given_name": "Dora"})
    assert sorted(response.status_code for response in responses) == [200] * (THREADS - 1) + [201]
    assert len({response.json()["uuid"] for response in responses}) == 1
    assert User.objects.filter(email="dora@example.org").count() == 1
    assert Event.all_tenants.filter(type="user.created").count() == 1


def test_concurrent_first_sights_of_a_cookie_end_in_one_guest(world, api_as):
    responses = race(api_as, world.acme.backend, "/api/v1/users/guests", {"cookie_id": "ck_1234567890"})
    assert sorted(response.status_code for response in responses) == [200] * (THREADS - 1) + [201]
    assert Membership.all_tenants.filter(external_id="cookie:ck_1234567890").count() == 1
    assert User.objects.filter(kind="guest").count() == 1


def test_concurrent_retries_with_one_key_run_once(world, api_as):
    responses = race(
        api_as,
        world.acme.backend,
        "/api/v1/users",
        {"email": "dora@example.org"},
        {"HTTP_IDEMPOTENCY_KEY": "same-key"},
    )
    assert [response.status_code for response in responses] == [201] * THREADS
    assert sum(response.get("Idempotent-Replayed") == "true" for response in responses) == THREADS - 1
    assert User.objects.filter(email="dora@example.org").count() == 1
    assert IdempotencyKey.objects.count() == 1
