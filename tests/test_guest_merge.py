"""guest_merge: a guest's consents and tenant relations become the account's; the merge is
recorded, told to the tenants that knew the guest, and happens once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.merge import GuestMergeRefused, guest_merge
from accounts.models import Membership, User
from accounts.services import guest_from_cookie, membership_link, user_guest_create
from consents.models import Channel, Consent, ConsentRecord
from consents.services import consent_grant, consent_withdraw, purpose_retire
from events.models import Event
from harbourmaster.actors import Actor

SYSTEM = Actor.system("tests")


@pytest.fixture
def guest(world):
    """A visitor of Acme who accepted cookies and agreed to Acme's newsletter."""
    user, _ = guest_from_cookie(actor=SYSTEM, tenant=world.acme.tenant, cookie_id="c-123")
    consent_grant(
        actor=SYSTEM,
        user=user,
        purpose=world.acme.newsletter,
        channel=Channel.WEB,
        source="cookie-banner",
        client=world.acme.app,
        ip_address="192.0.2.7",
        user_agent="Firefox",
    )
    return user


def merge(guest, into):
    return guest_merge(guest=guest, into=into, actor=Actor.user(into))


def test_consents_are_regranted_on_the_account_with_proof_naming_the_merge(world, guest):
    carol = world.carol
    merge(guest, carol)

    consent = Consent.all_tenants.get(user=carol, purpose=world.acme.newsletter)
    assert consent.is_granted
    guest_record = ConsentRecord.all_tenants.get(user=guest)
    record = ConsentRecord.all_tenants.get(user=carol, purpose=world.acme.newsletter)
    assert record.source == f"guest-merge:{guest.uuid}"
    assert record.action == ConsentRecord.Action.GRANT
    assert (record.channel, record.client) == (Channel.WEB, world.acme.app)
    assert record.occurred_at == guest_record.occurred_at  # when the person agreed
    assert record.actor == f"user:{carol.uuid}"
    assert record.ip_address is None and record.user_agent == ""  # the guest's record keeps those
    # The guest's own proof is untouched and still points at the guest.
    assert (guest_record.source, guest_record.ip_address) == ("cookie-banner", "192.0.2.7")
    assert Event.all_tenants.filter(tenant=world.acme.tenant, type="consent.granted", subject=str(carol.uuid)).exists()


def test_a_newer_choice_of_the_account_wins_over_the_guests_older_one(world, guest):
    alice = world.alice  # consented to Acme's newsletter in the world; now withdraws, later than the guest
    consent_withdraw(actor=SYSTEM, user=alice, purpose=world.acme.newsletter, channel=Channel.WEB)
    merge(guest, alice)
    assert Consent.all_tenants.get(user=alice, purpose=world.acme.newsletter).state == Consent.State.WITHDRAWN
    # The guest's grant is still on the account's record, as proof that arrived late.
    assert ConsentRecord.all_tenants.filter(user=alice, source=f"guest-merge:{guest.uuid}").count() == 1


def test_a_withdrawal_by_the_guest_carries_over(world, guest):
    consent_withdraw(actor=SYSTEM, user=guest, purpose=world.acme.newsletter, channel=Channel.WEB)
    merge(guest, world.alice)
    assert Consent.all_tenants.get(user=world.alice, purpose=world.acme.newsletter).state == Consent.State.WITHDRAWN


def test_grants_to_a_retired_purpose_stay_with_the_guest(world, guest):
    purpose_retire(actor=SYSTEM, purpose=world.acme.newsletter)
    merge(guest, world.carol)
    assert not Consent.all_tenants.filter(user=world.carol).exists()
    assert ConsentRecord.all_tenants.filter(user=guest).count() == 1


def test_memberships_and_the_tenants_own_id_move_to_the_account(world, guest):
    merge(guest, world.carol)
    membership = Membership.all_tenants.get(tenant=world.acme.tenant, user=world.carol)
    assert membership.external_id == "cookie:c-123"
    assert not Membership.all_tenants.filter(user=guest).exists()


def test_an_existing_membership_keeps_its_id_and_the_guest_keeps_its_own(world, guest):
    membership_link(actor=SYSTEM, user=world.carol, tenant=world.acme.tenant, source="api", external_id="C-9")
    merge(guest, world.carol)
    assert Membership.all_tenants.get(tenant=world.acme.tenant, user=world.carol).external_id == "C-9"
    # The tenant's cookie id still names someone: the merged guest, which says where it went.
    assert Membership.all_tenants.get(tenant=world.acme.tenant, user=guest).external_id == "cookie:c-123"
    # A later push for that cookie lands on the account, not on the merged guest.
    user, created = guest_from_cookie(actor=SYSTEM, tenant=world.acme.tenant, cookie_id="c-123")
    assert (user, created) == (world.carol, False)


def test_an_existing_membership_without_an_id_takes_the_guests(world, guest):
    membership_link(actor=SYSTEM, user=world.carol, tenant=world.acme.tenant, source="sign_in")
    merge(guest, world.carol)
    assert Membership.all_tenants.get(tenant=world.acme.tenant, user=world.carol).external_id == "cookie:c-123"
    assert not Membership.all_tenants.filter(user=guest).exists()


def test_the_merge_is_recorded_on_the_guest_which_stays(world, guest):
    before = timezone.now()
    merge(guest, world.carol)
    guest.refresh_from_db()
    assert guest.merged_into == world.carol
    assert before <= guest.merged_at <= timezone.now()
    assert guest.merged_by == f"user:{world.carol.uuid}"
    assert not guest.is_active and guest.kind == User.Kind.GUEST


def test_only_the_tenants_that_knew_the_guest_are_told(world, guest):
    membership_link(actor=SYSTEM, user=world.carol, tenant=world.bolt.tenant, source="sign_in")
    merge(guest, world.carol)
    merged = Event.all_tenants.filter(type="user.merged")
    assert [(event.tenant, event.subject) for event in merged] == [(world.acme.tenant, str(guest.uuid))]
    assert merged.get().payload == {"guest": str(guest.uuid), "user": str(world.carol.uuid)}
    assert merged.get().actor == f"user:{world.carol.uuid}"
    # Bolt knew only Carol: it hears nothing of the guest, nor of Acme's consent.
    assert not Event.all_tenants.filter(tenant=world.bolt.tenant, created_at__gte=merged.get().created_at).exists()


def test_a_tenant_that_only_had_the_guests_consent_is_told(world, guest):
    consent_grant(actor=SYSTEM, user=guest, purpose=world.bolt.postal, channel=Channel.WEB)
    merge(guest, world.carol)
    told = set(Event.all_tenants.filter(type="user.merged").values_list("tenant__slug", flat=True))
    assert told == {"acme", "bolt"}
    assert Consent.all_tenants.get(user=world.carol, purpose=world.bolt.postal).is_granted


def test_merging_again_into_the_same_account_changes_nothing(world, guest):
    merge(guest, world.carol)
    counts = (Event.all_tenants.count(), ConsentRecord.all_tenants.count())
    merge(guest, world.carol)
    assert (Event.all_tenants.count(), ConsentRecord.all_tenants.count()) == counts


def test_a_guest_is_never_merged_into_a_second_account(world, guest):
    merge(guest, world.carol)
    with pytest.raises(GuestMergeRefused):
        merge(guest, world.bob)
    guest.refresh_from_db()
    assert guest.merged_into == world.carol
    assert not Consent.all_tenants.filter(user=world.bob, purpose=world.acme.newsletter).exists()


@pytest.mark.parametrize("case", ["account_into_account", "guest_into_guest", "guest_into_itself", "inactive"])
def test_only_a_guest_merges_into_an_active_account(world, guest, case):
    other_guest = user_guest_create(actor=SYSTEM, tenant=world.bolt.tenant)
    world.bob.is_active = False
    world.bob.save(update_fields=["is_active"])
    pairs = {
        "account_into_account": (world.alice, world.carol),
        "guest_into_guest": (guest, other_guest),
        "guest_into_itself": (guest, guest),
        "inactive": (guest, world.bob),
    }
    source, target = pairs[case]
    with pytest.raises(GuestMergeRefused):
        merge(source, target)
    assert not Event.all_tenants.filter(type="user.merged").exists()


def test_the_guests_tokens_stop_working(world, guest):
    access = get_access_token_model().objects.create(
        user=guest, application=world.acme.app, token="t" * 40, expires=timezone.now() + timedelta(hours=1)
    )
    refresh = get_refresh_token_model().objects.create(
        user=guest, application=world.acme.app, token="r" * 40, access_token=access
    )
    merge(guest, world.carol)
    assert not get_access_token_model().objects.filter(pk=access.pk).exists()
    refresh.refresh_from_db()
    assert refresh.revoked is not None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_merges_of_one_guest_end_in_one_account(world, guest):
    results = {}

    def attempt(into):
        try:
            merge(User.objects.get(pk=guest.pk), into)
            results[into.email] = "merged"
        except GuestMergeRefused:
            results[into.email] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(user,)) for user in (world.bob, world.carol)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == ["merged", "refused"]
    guest.refresh_from_db()
    assert results[guest.merged_into.email] == "merged"
    assert Event.all_tenants.filter(type="user.merged").count() == 1
