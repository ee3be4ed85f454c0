"""Consents tenants record, and the users' confirmation of those they cannot vouch for.

A tenant's system may say that a user agreed to one of its purposes (a consent push or an
import row). Where the tenant deals with the user first-hand (``accounts.selectors.Standing``)
its word stands. Otherwise the consent is ``pending`` and opens nothing: the user is asked,
at the address the tenant named them by, and it counts once they confirm through the link.
A typo in a newsletter form, or a tenant's guess, never hands it what the user gave other
tenants. (docs/decisions/0035-a-tenants-word-needs-the-users-confirmation.md)
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from accounts.oidc.backchannel import hub_issuer
from accounts.selectors import Standing, user_standing_with_tenant
from accounts.signin.context import tenant_display_name
from accounts.signin.services import signin_mail_schedule
from accounts.sms.services import sms_schedule
from consents.models import Channel, Consent, ConsentRecord, Purpose, PurposeVersion
from consents.services import consent_grant, consent_withdraw
from harbourmaster.actors import Actor

logger = logging.getLogger(__name__)

LINK_SALT = "harbourmaster.consents.confirmation"
LINK_MAX_AGE = timedelta(days=30)
SOURCE = "confirmation-link"
MESSAGES_PER_RECIPIENT = 3
RECIPIENT_WINDOW = timedelta(days=1)


def hub_url(request) -> str:
    """The hub's address for links in messages: ``OIDC_ISSUER``, else the request's (a
    Django request, or DRF's around one)."""
    return hub_issuer(getattr(request, "_request", request)) or ""


def consent_record_for_tenant(
    *,
    actor: Actor,
    user: User,
    purpose: Purpose,
    action: str,
    client,
    hub_url: str,
    channel: str,
    source: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    occurred_at: datetime | None = None,
    version: int | None = None,
) -> Consent:
    """Record a grant or withdrawal a tenant's system reports. A withdrawal takes effect at
    once; a grant for a user the tenant does not deal with first-hand waits for the user's
    confirmation, asked for at ``hub_url`` once the grant commits."""
    common = {
        "actor": actor,
        "user": user,
        "purpose": purpose,
        "channel": channel,
        "source": source,
        "client": client,
        "ip_address": ip_address,
        "user_agent": user_agent,
        "occurred_at": occurred_at,
    }
    if action == ConsentRecord.Action.WITHDRAW:
        return consent_withdraw(**common)
    stranger = user_standing_with_tenant(user=user, tenant=purpose.tenant) == Standing.STRANGER
    consent = consent_grant(**common, version=version, awaiting_confirmation=stranger)
    if consent.state == Consent.State.PENDING:
        _confirmation_ask_on_commit(consent=consent, user=user, hub_url=hub_url)
    return consent


def _confirmation_ask_on_commit(*, consent: Consent, user: User, hub_url: str) -> None:
    """Ask the user once per consent and statement (a tenant repeating itself sends nothing
    more for the link's lifetime), after the pending consent commits."""
    if not hub_url or not user.is_active:
        logger.warning("consent %s waits for its user, but no message could be sent", consent.pk)
        return
    channel = _channel_of(user)
    if channel is None:
        return  # no proven address to ask at: it waits, and counts for nothing
    version = consent.version.version

    def ask() -> None:
        asked = f"consent-confirmation:{user.pk}:{consent.purpose_id}:{version}"
        if not cache.add(asked, 1, LINK_MAX_AGE.total_seconds()):
            return  # asked already
        if not _recipient_budget_spend(user):
            cache.delete(asked)  # not asked: the tenant's next word may ask, another day
            return
        _confirmation_send(consent=consent, user=user, version=version, channel=channel, hub_url=hub_url)

    # Robust: the consent is committed whatever becomes of the question (logged, not a 500).
    transaction.on_commit(ask, robust=True)


def _recipient_budget_spend(user: User) -> bool:
    """At most MESSAGES_PER_RECIPIENT questions a day reach one person, from all tenants
    together: a tenant publishes purposes and statements at will, and each would otherwise
    be a message of its wording in a stranger's inbox. The rest wait unasked."""
    key = f"consent-confirmation:sent-to:{user.pk}"
    cache.add(key, 0, RECIPIENT_WINDOW.total_seconds())
    try:
        return cache.incr(key) <= MESSAGES_PER_RECIPIENT
    except ValueError:  # the window ended between the two calls
        return cache.add(key, 1, RECIPIENT_WINDOW.total_seconds())


def _channel_of(user: User) -> str | None:
    if user.email and user.email_verified:
        return Channel.EMAIL
    if user.phone_number and user.phone_number_verified:
        return Channel.PHONE
    return None


def _confirmation_send(*, consent: Consent, user: User, version: int, channel: str, hub_url: str) -> None:
    token = signing.dumps({"u": str(user.uuid), "p": consent.purpose_id, "v": version, "c": channel}, salt=LINK_SALT)
    purpose = consent.purpose
    context = {
        "tenant": tenant_display_name(purpose.tenant),
        "purpose": purpose.name,
        "link": hub_url.rstrip("/") + reverse("consent-confirm", args=[token]),
        "days": LINK_MAX_AGE.days,
    }
    with translation.override(user.locale or settings.LANGUAGE_CODE):
        if channel == Channel.PHONE:
            sms_schedule(to=user.phone_number, text=render_to_string("confirmations/consent_sms.txt", context).strip())
            return
        subject = render_to_string("confirmations/consent_subject.txt", context).strip()
        body = render_to_string("confirmations/consent_message.txt", context)
    signin_mail_schedule(message=EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email]))


# --- The user's answer --------------------------------------------------------------------


@dataclass
class Confirmation:
    """What a link asks: the user, the purpose and statement version, and how it reached them."""

    user: User
    purpose: Purpose
    statement: PurposeVersion
    channel: str
    consent: Consent | None
    answered: str | None = None  # "confirm" or "decline" once this request's answer was taken

    @property
    def waiting(self) -> bool:
        consent = self.consent
        return (
            consent is not None
            and consent.state == Consent.State.PENDING
            and consent.version == self.statement
            and self.purpose.is_active
        )

    @property
    def confirmed(self) -> bool:
        consent = self.consent
        return consent is not None and consent.state == Consent.State.GRANTED


_GONE = (User.DoesNotExist, Purpose.DoesNotExist, PurposeVersion.DoesNotExist)


def confirmation_read(token: str) -> Confirmation | None:
    """The confirmation a link asks for; None for a link that is altered or too old, or
    whose user or statement is gone."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
        user = User.objects.get(uuid=data["u"], is_active=True)
        purpose = Purpose.all_tenants.select_related("tenant").get(pk=data["p"])
        statement = PurposeVersion.objects.get(purpose=purpose, version=data["v"])
        channel = Channel(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, *_GONE):
        return None
    consent = Consent.all_tenants.filter(user=user, purpose=purpose).select_related("version").first()
    return Confirmation(user, purpose, statement, channel, consent)


@transaction.atomic
def confirmation_answer(
    *, confirmation: Confirmation, accept: bool, ip_address: str | None, user_agent: str
) -> Confirmation:
    """The user's yes (the consent is granted, by them) or no (withdrawn), if the consent
    still waits for this statement; anything else changes nothing. Returns it as it now is,
    ``answered`` set if this answer was the one taken."""
    consent = Consent.all_tenants.select_for_update().filter(pk=getattr(confirmation.consent, "pk", None)).first()
    confirmation.consent = consent
    if not confirmation.waiting:
        return confirmation
    confirmation.answered = "confirm" if accept else "decline"
    common = {
        "actor": Actor.user(confirmation.user),
        "user": confirmation.user,
        "purpose": confirmation.purpose,
        "channel": confirmation.channel,
        "source": SOURCE,
        "ip_address": ip_address,
        "user_agent": user_agent,
        # After what it answers, even where the tenant dated its word a little ahead (clock skew).
        "occurred_at": max(timezone.now(), consent.granted_at or timezone.now()),
    }
    if accept:
        confirmation.consent = consent_grant(**common, version=confirmation.statement.version)
    else:
        confirmation.consent = consent_withdraw(**common)
    return confirmation
