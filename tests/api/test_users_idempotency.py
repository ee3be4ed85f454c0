"""Idempotency-Key: a retried write gets the first answer and changes nothing twice."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from consents.models import ConsentRecord
from events.models import Event
from harbourmaster.api.idempotency import idempotency_keys_purge
from tenants.models import IdempotencyKey
from tests.api.conftest import assert_problem


def post(api, url, body, key):
    return api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_push_replays_the_first_answer(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    body = {"email": "dora@example.org", "given_name": "Dora"}
    first = post(api, "/api/v1/users", body, "key-1")
    # Between the retries the user changes elsewhere; the replay still answers as the first did.
    User.objects.filter(email="dora@example.org").update(given_name="Changed")
    again = post(api, "/api/v1/users", body, "key-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert User.objects.get(email="dora@example.org").given_name == "Changed"
    assert Event.all_tenants.filter(type="user.created").count() == 1
    assert Event.all_tenants.filter(type="user.updated").count() == 0


def test_the_same_key_with_another_body_is_refused(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    post(api, "/api/v1/users", {"email": "dora@example.org"}, "key-1")
    body = assert_problem(post(api, "/api/v1/users", {"email": "erin@example.org"}, "key-1"), 422)
    assert body["type"] == "urn:harbourmaster:problem:idempotency-key-reused"
    assert not User.objects.filter(email="erin@example.org").exists()


def test_keys_belong_to_one_client(world, api_as, make_client):
    other_client, _ = make_client(world.acme.tenant, allowed_scopes=["users:write"])
    first = post(api_as(world.acme.backend, ["users:write"]), "/api/v1/users", {"email": "dora@example.org"}, "k")
    second = post(api_as(other_client, ["users:write"]), "/api/v1/users", {"email": "erin@example.org"}, "k")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["uuid"] != second.json()["uuid"]


def test_a_failed_request_is_not_stored_so_its_retry_runs_again(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    assert_problem(post(api, "/api/v1/users", {"given_name": "No Identifier"}, "key-1"), 400)
    assert not IdempotencyKey.objects.exists()


def test_an_expired_key_can_be_used_again(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    post(api, "/api/v1/users", {"email": "dora@example.org"}, "key-1")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = post(api, "/api/v1/users", {"email": "erin@example.org"}, "key-1")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert User.objects.filter(email="erin@example.org").exists()


def test_expired_keys_are_purged(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    post(api, "/api/v1/users", {"email": "dora@example.org"}, "old")
    post(api, "/api/v1/users", {"email": "erin@example.org"}, "new")
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_retried_consent_records_one_proof(world, api_as):
    api = api_as(world.acme.backend, ["consents:write"])
    act = {
        "user": {"uuid": str(world.alice.uuid)},
        "purpose": "newsletter",
        "action": "withdraw",
        "occurred_at": timezone.now().isoformat(),
    }
    first = post(api, "/api/v1/consents", act, "c-1")
    again = post(api, "/api/v1/consents", act, "c-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert ConsentRecord.all_tenants.filter(user=world.alice, action="withdraw").count() == 1


def test_a_malformed_key_is_refused(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    assert_problem(post(api, "/api/v1/users", {"email": "dora@example.org"}, "x" * 256), 400)
    assert not User.objects.filter(email="dora@example.org").exists()
