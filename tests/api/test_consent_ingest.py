"""Tenant systems record consent grants and withdrawals with their proof (consents:write)."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from consents.models import ConsentRecord
from consents.selectors import consent_is_current
from events.models import Event
from tests.api.conftest import assert_problem


def act(api, **body):
    body.setdefault("occurred_at", timezone.now().isoformat())
    return api.post("/api/v1/consents", body, format="json")


def test_grant_records_proof_with_the_calling_client(world, api_as):
    api = api_as(world.acme.backend, ["consents:write"])
    when = timezone.now() - timedelta(minutes=3)
    response = act(
        api,
        user={"email": "carol@example.org"},
        purpose="postal-marketing",
        action="grant",
        occurred_at=when.isoformat(),
        channel="web",
        source="checkout-form",
        ip_address="192.0.2.1",
        user_agent="Firefox",
        version=1,
    )
    # Carol's email is not verified and Acme does not know her: she cannot be named by it.
    assert_problem(response, 404)
    User.objects.filter(pk=world.carol.pk).update(email_verified=True)
    response = act(
        api,
        user={"email": "carol@example.org"},
        purpose="postal-marketing",
        action="grant",
        occurred_at=when.isoformat(),
        channel="web",
        source="checkout-form",
        ip_address="192.0.2.1",
        user_agent="Firefox",
        version=1,
    )
    assert response.status_code == 200, response.content
    # Acme never dealt with Carol: its word waits for her confirmation (decision 35).
    assert response.json()["state"] == "pending" and response.json()["version"] == 1
    record = ConsentRecord.all_tenants.get(user=world.carol)
    assert (record.client, record.channel, record.source, record.ip_address, record.user_agent) == (
        world.acme.backend,
        "web",
        "checkout-form",
        "192.0.2.1",
        "Firefox",
    )
    assert record.occurred_at == when and record.actor == f"client:{world.acme.backend.client_id}"
    assert record.statement_hash == world.acme.postal.versions.get(version=1).statement_hash
    assert Event.all_tenants.filter(
        tenant=world.acme.tenant, type="consent.pending", subject=str(world.carol.uuid)
    ).exists()


def test_withdrawal_by_external_id_takes_effect(world, api_as):
    writer = api_as(world.acme.backend, ["users:write", "consents:write"])
    writer.post("/api/v1/users", {"uuid": str(world.alice.uuid), "external_id": "A-1"}, format="json")
    response = act(writer, user={"external_id": "A-1"}, purpose="newsletter", action="withdraw")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "withdrawn" and response.json()["withdrawn_at"]
    assert not consent_is_current(user=world.alice, purpose=world.acme.newsletter)


def test_repeating_the_current_state_records_nothing(world, api_as):
    api = api_as(world.acme.backend, ["consents:write"])
    before = ConsentRecord.all_tenants.count()
    response = act(api, user={"uuid": str(world.alice.uuid)}, purpose="newsletter", action="grant")
    assert response.status_code == 200 and response.json()["state"] == "granted"
    assert ConsentRecord.all_tenants.count() == before


def test_another_tenants_purpose_is_404(world, api_as):
    api = api_as(world.acme.backend, ["consents:write"])
    # Bolt has "postal-marketing" too, and Bob consents to it; Acme's call touches only Acme's.
    assert_problem(act(api, user={"uuid": str(world.bob.uuid)}, purpose="postal-marketing", action="withdraw"), 404)
    assert_problem(act(api, user={"uuid": str(world.alice.uuid)}, purpose="bolt-only", action="grant"), 404)
    assert consent_is_current(user=world.bob, purpose=world.bolt.postal)
    assert not ConsentRecord.all_tenants.filter(tenant=world.acme.tenant, user=world.bob).exists()


def test_bad_acts_are_refused_with_paths(world, api_as):
    api = api_as(world.acme.backend, ["consents:write"])
    body = assert_problem(
        api.post(
            "/api/v1/consents",
            {"user": {"uuid": "nope", "email": "a@b.c"}, "purpose": "newsletter", "action": "maybe", "channel": "fax"},
            format="json",
        ),
        400,
    )
    assert {"/user/uuid", "/action", "/channel", "/occurred_at"} <= {e["path"] for e in body["errors"]}
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert_problem(
        act(api, user={"uuid": str(world.alice.uuid)}, purpose="newsletter", action="withdraw", occurred_at=future),
        400,
        path="/occurred_at",
    )
    assert_problem(
        act(api, user={"uuid": str(world.alice.uuid)}, purpose="postal-marketing", action="grant", version=9),
        400,
        path="/version",
    )
    assert not ConsentRecord.all_tenants.filter(user=world.alice, purpose=world.acme.postal).exists()


def test_recording_consents_needs_consents_write(world, api_as):
    api = api_as(world.acme.backend, ["users:write", "users:read"])
    assert_problem(act(api, user={"uuid": str(world.alice.uuid)}, purpose="newsletter", action="withdraw"), 403)
    assert consent_is_current(user=world.alice, purpose=world.acme.newsletter)
