"""A guest becomes part of the registered account its visitor signs in to or creates.

docs/decisions/0016-mfa-and-guests.md: what moves, what stays with the guest, who is told.
"""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, User
from accounts.selectors import tenants_related_to_user
from accounts.services import user_tokens_end
from consents.models import Channel, Consent, ConsentRecord
from consents.services import consent_grant, consent_withdraw
from events.services import events_record
from harbourmaster.actors import Actor

logger = logging.getLogger(__name__)
MERGE_SOURCE_PREFIX = "guest-merge:"


class GuestMergeRefused(Exception):
    """The two users cannot be merged: not a guest into an account, or merged elsewhere."""


@transaction.atomic
def guest_merge(*, guest: User, into: User, actor: Actor) -> User:
    """Carry ``guest``'s consents and tenant relations over to ``into`` and retire the guest.

    Idempotent: merging a guest again into the same account changes nothing. A guest is
    merged into one account only. The guest row stays (its consent records and the
    access records naming it point at it), marked ``merged_into``, inactive.
    """
    guest, into = _lock(guest, into)
    if guest.merged_into_id == into.pk:
        return guest
    _refuse_unless_mergeable(guest, into)
    told = list(tenants_related_to_user(user=guest))
    # A tenant app holding the guest's tokens must sign the person in again, as the account.
    # The guest's JWTs are named by the guest's clients, read off its memberships: listed
    # before they move to the account.
    user_tokens_end(user=guest)
    _consents_carry(guest=guest, into=into, actor=actor)
    _memberships_carry(guest=guest, into=into)
    guest.merged_into, guest.merged_at, guest.merged_by = into, timezone.now(), str(actor)
    guest.is_active, guest.guest_device_hash = False, None
    guest.save(update_fields=["merged_into", "merged_at", "merged_by", "is_active", "guest_device_hash"])
    # Only the tenants that knew the guest hear of it: telling the account's other tenants
    # would tell them where else this person had been.
    events_record(
        actor=actor,
        tenants=told,
        type="user.merged",
        subject=str(guest.uuid),
        payload={"guest": str(guest.uuid), "user": str(into.uuid)},
    )
    logger.info("guest %s merged into %s by %s", guest.uuid, into.uuid, actor)
    return guest


def _lock(guest: User, into: User) -> tuple[User, User]:
    # Both rows, in one order, so two merges of the same guest wait for each other.
    rows = {user.pk: user for user in User.objects.select_for_update().filter(pk__in=[guest.pk, into.pk])}
    if guest.pk not in rows or into.pk not in rows:
        raise GuestMergeRefused("no such user")
    return rows[guest.pk], rows[into.pk]


def _refuse_unless_mergeable(guest: User, into: User) -> None:
    if not guest.is_guest or guest.pk == into.pk:
        raise GuestMergeRefused("only a guest can be merged into an account")
    if guest.merged_into_id is not None:
        raise GuestMergeRefused("this guest is part of another account already")
    if into.is_guest or not into.is_active:
        raise GuestMergeRefused("a guest is merged into an active registered account only")


def _consents_carry(*, guest: User, into: User, actor: Actor) -> None:
    """The guest's current choices become the account's, as new proof that names the merge.

    The guest's own records stay as they are (append-only) and keep pointing at the guest.
    Each choice is re-recorded at the time the guest made it, so consent_grant's rules
    apply: a newer choice the account made itself stands, a repeat records nothing.
    """
    consents = Consent.all_tenants.filter(user=guest).select_related("purpose", "version")
    for consent in consents.order_by("id"):
        if consent.state != Consent.State.WITHDRAWN and not consent.purpose.is_active:
            continue  # a retired purpose takes no new grants; the guest's record stays
        proof = ConsentRecord.all_tenants.filter(user=guest, purpose=consent.purpose).order_by("-id").first()
        change = {
            "actor": actor,
            "user": into,
            "purpose": consent.purpose,
            "channel": proof.channel if proof else Channel.WEB,
            "client": proof.client if proof else None,
            "source": f"{MERGE_SOURCE_PREFIX}{guest.uuid}",
        }
        if consent.state != Consent.State.WITHDRAWN:  # granted, or still waiting for the user's word
            waiting = consent.state == Consent.State.PENDING
            version = consent.version.version
            consent_grant(**change, occurred_at=consent.granted_at, version=version, awaiting_confirmation=waiting)
        else:
            consent_withdraw(**change, occurred_at=consent.withdrawn_at)


def _memberships_carry(*, guest: User, into: User) -> None:
    """The account joins every tenant the guest was known to, under the tenant's own id.

    Where the account is a member already and has no id of that tenant, the guest's id
    (e.g. a consent-cookie id) moves over. Where both have one, the guest keeps its
    membership, so the tenant's id still names someone (the merged guest, which says
    where it went) rather than nobody.
    """
    for membership in Membership.all_tenants.select_for_update().filter(user=guest):
        existing = Membership.all_tenants.filter(tenant_id=membership.tenant_id, user=into).first()
        if existing is None:
            membership.user = into
            membership.save(update_fields=["user"])
        elif existing.external_id is None or membership.external_id is None:
            external_id = membership.external_id
            membership.delete()
            if external_id:
                existing.external_id = external_id
                existing.save(update_fields=["external_id"])
