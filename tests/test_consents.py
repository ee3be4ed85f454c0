from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from consents.models import Channel, Consent, ConsentRecord, PurposeVersion
from consents.selectors import consent_is_current, user_ids_with_current_consent
from consents.services import (
    consent_grant,
    consent_withdraw,
    purpose_create,
    purpose_retire,
    purpose_statement_publish,
    statement_hash,
)
from events.models import Event
from harbourmaster.actors import Actor

ACTOR = Actor.system("tests")


def test_purpose_create_publishes_version_one(make_tenant):
    tenant = make_tenant("acme")
    purpose = purpose_create(
        actor=ACTOR,
        tenant=tenant,
        slug="newsletter",
        name="Newsletter",
        statement="Send me news.",
        data_categories=["email"],
    )
    version = PurposeVersion.objects.get(purpose=purpose)
    assert (version.version, version.statement_hash) == (1, statement_hash("Send me news."))
    assert purpose.current_version == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"data_categories": ["email", "shoe-size"]}, "shoe-size"),
        ({"statement": "   "}, "statement"),
        ({"slug": "not a slug"}, "slug"),
        ({"legal_basis": "because"}, "legal_basis"),
    ],
)
def test_purpose_create_refuses_bad_input_and_writes_nothing(make_tenant, fields, error):
    tenant = make_tenant("acme")
    arguments = {"slug": "newsletter", "name": "N", "statement": "S", "data_categories": ["email"]} | fields
    with pytest.raises(ValidationError, match=error):
        purpose_create(actor=ACTOR, tenant=tenant, **arguments)
    assert not tenant.purposes.exists()


def test_same_purpose_slug_in_two_tenants_is_fine_but_not_twice_in_one(make_tenant, make_purpose):
    acme, bolt = make_tenant("acme"), make_tenant("bolt")
    make_purpose(acme, "newsletter")
    make_purpose(bolt, "newsletter")
    with pytest.raises(ValidationError):
        make_purpose(acme, "newsletter")


def test_grant_writes_consent_record_and_event_together(world):
    consent = consent_grant(
        actor=ACTOR,
        user=world.carol,
        purpose=world.acme.postal,
        channel=Channel.WEB,
        source="checkout",
        ip_address="203.0.113.7",
        user_agent="Firefox",
    )
    assert consent.is_granted and consent.version.version == 1
    record = ConsentRecord.all_tenants.get(user=world.carol)
    assert (record.action, record.channel, record.source, record.ip_address, record.user_agent) == (
        "grant",
        "web",
        "checkout",
        "203.0.113.7",
        "Firefox",
    )
    assert record.statement_hash == world.acme.postal.versions.get().statement_hash
    assert record.tenant == world.acme.tenant
    event = Event.all_tenants.get(subject=str(world.carol.uuid))
    assert event.type == "consent.granted" and event.tenant == world.acme.tenant
    assert event.payload["purpose"] == "postal-marketing"


def test_repeated_grant_is_idempotent(world):
    records, events = ConsentRecord.all_tenants.count(), Event.all_tenants.count()
    consent_grant(actor=ACTOR, user=world.alice, purpose=world.acme.newsletter, channel=Channel.WEB)
    assert (ConsentRecord.all_tenants.count(), Event.all_tenants.count()) == (records, events)


def test_withdraw_takes_effect_at_once(world):
    assert world.alice.pk in set(user_ids_with_current_consent(purpose=world.acme.newsletter))
    consent_withdraw(actor=ACTOR, user=world.alice, purpose=world.acme.newsletter, channel=Channel.EMAIL)
    assert world.alice.pk not in set(user_ids_with_current_consent(purpose=world.acme.newsletter))
    assert Consent.all_tenants.get(user=world.alice, purpose=world.acme.newsletter).state == "withdrawn"
    actions = list(ConsentRecord.all_tenants.filter(user=world.alice).order_by("id").values_list("action", flat=True))
    assert actions == ["grant", "withdraw"]
    assert Event.all_tenants.filter(type="consent.withdrawn", subject=str(world.alice.uuid)).count() == 1


def test_late_older_act_is_kept_as_proof_but_does_not_override(world):
    consent_withdraw(actor=ACTOR, user=world.alice, purpose=world.acme.newsletter, channel=Channel.WEB)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    consent_grant(
        actor=ACTOR, user=world.alice, purpose=world.acme.newsletter, channel=Channel.IMPORT, occurred_at=an_hour_ago
    )
    assert not consent_is_current(user=world.alice, purpose=world.acme.newsletter)
    assert ConsentRecord.all_tenants.filter(user=world.alice, channel="import", occurred_at=an_hour_ago).exists()


def test_grant_to_retired_purpose_is_refused(world):
    purpose_retire(actor=ACTOR, purpose=world.acme.postal)
    with pytest.raises(ValidationError, match="retired"):
        consent_grant(actor=ACTOR, user=world.carol, purpose=world.acme.postal, channel=Channel.WEB)
    assert not ConsentRecord.all_tenants.filter(user=world.carol).exists()


def test_retired_purpose_consents_stop_counting(world):
    purpose_retire(actor=ACTOR, purpose=world.acme.newsletter)
    assert not consent_is_current(user=world.alice, purpose=world.acme.newsletter)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"version": 7}, "version"),
        ({"occurred_at": timezone.now() + timedelta(days=1)}, "future"),
    ],
)
def test_bad_grant_is_refused_and_writes_nothing(world, fields, error):
    arguments = {"channel": Channel.WEB} | fields
    with pytest.raises(ValidationError, match=error):
        consent_grant(actor=ACTOR, user=world.carol, purpose=world.acme.postal, **arguments)
    assert not Consent.all_tenants.filter(user=world.carol).exists()
    assert not ConsentRecord.all_tenants.filter(user=world.carol).exists()


def test_new_statement_without_reconsent_keeps_old_consents_current(world):
    purpose_statement_publish(actor=ACTOR, purpose=world.acme.newsletter, statement="Clearer words.")
    assert consent_is_current(user=world.alice, purpose=world.acme.newsletter)


def test_statement_requiring_reconsent_asks_users_again(world):
    version = purpose_statement_publish(
        actor=ACTOR, purpose=world.acme.newsletter, statement="Now also SMS.", requires_reconsent=True
    )
    assert version.version == 2
    assert not consent_is_current(user=world.alice, purpose=world.acme.newsletter)
    consent_grant(actor=ACTOR, user=world.alice, purpose=world.acme.newsletter, channel=Channel.WEB)
    assert consent_is_current(user=world.alice, purpose=world.acme.newsletter)
    assert Consent.all_tenants.get(user=world.alice, purpose=world.acme.newsletter).version == version


def test_consent_is_unique_per_user_and_purpose(world):
    existing = Consent.all_tenants.get(user=world.alice, purpose=world.acme.newsletter)
    with pytest.raises(IntegrityError):
        Consent.all_tenants.create(
            tenant=existing.tenant,
            user=world.alice,
            purpose=existing.purpose,
            state="granted",
            version=existing.version,
        )
