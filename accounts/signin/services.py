"""Writes of the code sign-in: the account a code is sent for, and what the code proved."""

import logging
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib.admin.models import LogEntry
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_id_token_model, get_refresh_token_model

from accounts.models import Membership, User, normalize_email
from accounts.selectors import tenants_related_to_user
from accounts.services import (
    user_email_follow,
    user_profile_update,
    user_register,
    user_registration_announce,
    user_sign_out_everywhere,
)
from accounts.signin.pending import pending_drop, pending_get, pending_send_on_commit
from audit.models import AccessRecordSubject, AccessRecordSubjectBlock
from consents.models import Consent, ConsentRecord
from events.services import events_record
from harbourmaster.actors import Actor

logger = logging.getLogger(__name__)

ACTOR = Actor.system("sign-in by code")


def signin_code_account_ensure(*, email: str | None = None, phone: str | None = None, tenant=None) -> User | None:
    """The account a code for ``email``/``phone`` is sent for, made now if there is none.

    A new address signs up by code: the account exists from here on, unverified and without
    a password, as after allauth's own sign-up form, linked to the ``tenant`` the sign-in
    serves (which hears ``user.created``). Which account the code then opens is decided when
    it comes back (``signin_code_account_settle``): an account that only claims the address,
    a guest's or a deactivated one included, gets the code sent but is not what it opens.
    None when the address belongs to a deactivated account the code cannot get past.
    """
    email = normalize_email(email)
    lookup = {"email": email} if email else {"phone_number": phone}
    user = User.objects.filter(**lookup).first()
    if user is None:
        try:
            with transaction.atomic():
                user = user_register(actor=ACTOR, email=email, phone_number=phone, tenant=tenant)
        except (IntegrityError, ValidationError):  # made by a request a moment ago
            user = User.objects.filter(**lookup).first()
    if user is None or _deactivated_keeper(user, email=email, phone=phone):
        return None
    return user


@transaction.atomic
def signin_code_address_verified(*, user: User, email: str | None = None, phone: str | None = None) -> None:
    """A code sent to ``email``/``phone`` came back: the address is the user's."""
    if email:
        email = normalize_email(email)
        address, _created = EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"primary": not EmailAddress.objects.filter(user=user).exists()}
        )
        if not address.verified:
            address.verified = True
            address.save(update_fields=["verified"])
        if user.email == email and not user.email_verified:
            user_profile_update(actor=Actor.user(user), user=user, changes={"email_verified": True})
    if phone and user.phone_number == phone and not user.phone_number_verified:
        user_profile_update(actor=Actor.user(user), user=user, changes={"phone_number_verified": True})


# --- What a code that came back proves (docs/decisions/0033) ---------------------------


def signin_code_account_settle(
    *, email: str | None = None, phone: str | None = None, tenant=None, issuer: str | None = None
) -> User | None:
    """The account a code that came back for ``email``/``phone`` signs in to, with the address
    verified on it; None when a deactivated account keeps the address (docs/decisions/0033).

    The code proves the address, nothing else. It opens the account on which the address is
    verified. Failing that, the account the address alone names, if nobody could open it
    without the address (a sign-up by code, an account a tenant pushed, a password sign-up
    never confirmed): whatever someone who never proved the address set on it goes. Every
    other account that claims the address, a deactivated one too, loses the claim and keeps
    the rest, and the prover gets a new account, made as a sign-up by code makes one for
    ``tenant``. If someone had signed in to the account opened, every sign-in of it ends
    (``issuer`` names the logout tokens, see ``user_sign_out_everywhere``). Each account's
    tenants hear what went (``user.credentials_revoked``).
    """
    for attempt in range(2):
        try:
            return _account_settle(email=normalize_email(email), phone=phone, tenant=tenant, issuer=issuer)
        except (IntegrityError, ValidationError):  # another browser proved the address a moment ago
            if attempt:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _account_settle(*, email: str | None, phone: str | None, tenant, issuer: str | None) -> User | None:
    holders = _address_holders(email=email, phone=phone)
    owner = next((holder for holder in holders if _verified_on(holder, email=email, phone=phone)), None)
    if owner is not None:
        if owner.is_active and owner.last_login is None:
            _first_opening_settle(account=owner, email=email, phone=phone)
        return owner if owner.is_active else None
    if any(_deactivated_keeper(holder, email=email, phone=phone) for holder in holders):
        return None
    waiting = (
        holder for holder in holders if holder.is_active and _waits_for_address(holder, email=email, phone=phone)
    )
    account = next(waiting, None)
    for holder in holders:
        if holder != account:
            _claim_remove(holder=holder, email=email, phone=phone)
    if account is None:
        account = user_register(actor=ACTOR, email=email, phone_number=phone, tenant=tenant)
    else:
        _unproven_ways_in_remove(account=account, issuer=issuer)
    signin_code_address_verified(user=account, email=email, phone=phone)
    return account


def _address_holders(*, email: str | None, phone: str | None) -> list[User]:
    """Every account that names the address, locked, so two proofs of it wait for each other."""
    if email:
        claims = EmailAddress.objects.filter(email__iexact=email).values("user_id")
        named = Q(email=email) | Q(pk__in=claims)
    else:
        named = Q(phone_number=phone)
    return list(User.objects.select_for_update().filter(named).order_by("pk"))


def signin_address_proven_on(user: User, *, email: str) -> bool:
    """Whether ``email`` is proven on ``user``'s account (what a code would open it by)."""
    return _verified_on(user, email=normalize_email(email), phone=None)


def _verified_on(user: User, *, email: str | None, phone: str | None) -> bool:
    """The address is verified on this registered account (a guest proves nothing by it)."""
    if user.is_guest:
        return False
    if phone:
        return user.phone_number == phone and user.phone_number_verified
    addresses = EmailAddress.objects.filter(user=user, email__iexact=email, verified=True)
    return (user.email == email and user.email_verified) or addresses.exists()


def _deactivated_keeper(user: User, *, email: str | None, phone: str | None) -> bool:
    """A deactivated account the code cannot get past: the address is verified on it, or is
    all that names it (a registered account keeps an identifier, so the claim cannot go).
    Any other deactivated account loses its claim like an active one: staff locked a
    stranger out, not the address's owner."""
    if user.is_active or user.is_guest:
        return False
    named = user.email == email if email else user.phone_number == phone
    return _verified_on(user, email=email, phone=phone) or (named and _other_identifier(user, email=email) is None)


def _waits_for_address(user: User, *, email: str | None, phone: str | None) -> bool:
    """Nobody could open this account but through the address, or it would keep no other
    identifier without it (a registered account needs one): the address's own account."""
    named = user.email == email if email else user.phone_number == phone
    if user.is_guest or not named:
        return False
    return not _open_without(user, email=email, phone=phone) or _other_identifier(user, email=email) is None


def _open_without(user: User, *, email: str | None, phone: str | None) -> bool:
    """Someone got in before, or could by another address the account has proven."""
    other_addresses = EmailAddress.objects.filter(user=user, verified=True).exclude(email__iexact=email or "")
    return (
        user.last_login is not None
        or (user.email_verified and user.email != email)
        or (user.phone_number_verified and user.phone_number != phone)
        or other_addresses.exists()
    )


def _other_identifier(user: User, *, email: str | None) -> str | None:
    """What still names the account once the claimed address is gone from it."""
    if email is None:
        return user.email
    replacement = _email_replacement(user, email=email)
    return user.phone_number or (replacement.email if replacement else None)


def _email_replacement(user: User, *, email: str) -> EmailAddress | None:
    return EmailAddress.objects.filter(user=user, verified=True).exclude(email__iexact=email).order_by("pk").first()


def _claim_remove(*, holder: User, email: str | None, phone: str | None) -> None:
    """The address goes from ``holder``, which keeps everything else; its tenants hear which
    fields changed (``user.updated``) and why (``user.credentials_revoked``). An account
    named by that address is named by another address it has verified from now on."""
    changes: dict = {}
    revoked = "email" if email and holder.email == email else "email_address" if email else "phone_number"
    if email:
        replacement = _email_replacement(holder, email=email) if holder.email == email else None
        EmailAddress.objects.filter(user=holder, email__iexact=email).delete()
        if holder.email == email:
            changes = {"email": replacement.email if replacement else None, "email_verified": replacement is not None}
        if replacement is not None:
            EmailAddress.objects.filter(pk=replacement.pk).update(primary=True)
    elif holder.phone_number == phone:
        changes = {"phone_number": None, "phone_number_verified": False}
    if changes:
        user_profile_update(actor=ACTOR, user=holder, changes=changes)
    _revocation_announce(user=holder, revoked=[revoked], reason="address_proven_elsewhere")
    logger.info("an unproven claim to an address was removed from user %s: another proved it", holder.uuid)


def _first_opening_settle(*, account: User, email: str | None, phone: str | None) -> None:
    """Nobody has signed in to this account yet, so its other address was called proven by
    whoever made it (a tenant's push), not by its owner: the code proves this address only.
    The other stays on the account as a claim, no way in, until its holder proves it."""
    other = "phone_number_verified" if email else "email_verified"
    if getattr(account, other):
        user_profile_update(actor=ACTOR, user=account, changes={other: False})
        _revocation_announce(user=account, revoked=[other], reason="address_proven")


def _unproven_ways_in_remove(*, account: User, issuer: str | None) -> None:
    """What was set on the address's own account by someone who never proved the address: a
    password, provider accounts, authenticators. The prover starts with none of them. If
    someone was in the account (``last_login``), whoever it was is signed out everywhere, a
    stranger holding a session or an app's tokens included, whatever was removed."""
    removed = []
    if account.has_usable_password():
        account.set_unusable_password()
        account.save(update_fields=["password", "updated_at"])
        removed.append("password")
    if SocialAccount.objects.filter(user=account).delete()[0]:
        removed.append("provider_accounts")
    if Authenticator.objects.filter(user=account).delete()[0]:
        removed.append("authenticators")
    if account.last_login is not None:
        user_sign_out_everywhere(actor=ACTOR, user=account, issuer=issuer)
        removed.append("sessions")
    if not removed:
        return
    logger.warning("code sign-in to user %s removed what no proven address had set: %s", account.uuid, removed)
    _revocation_announce(user=account, revoked=removed, reason="address_proven")


def _revocation_announce(*, user: User, revoked: list[str], reason: str) -> None:
    """The user's tenants hear what a code's proof took from the account: names, no values
    (docs/decisions/0033). What the tenant's app holds under the ``sub`` from before may be
    a stranger's: the tenant decides what to do with it."""
    events_record(
        actor=ACTOR,
        tenants=tenants_related_to_user(user=user),
        type="user.credentials_revoked",
        subject=str(user.uuid),
        payload={"user": str(user.uuid), "revoked": revoked, "reason": reason},
    )


def signin_email_follow(*, user: User, previous_email: str | None) -> None:
    """allauth's address pages wrote ``user.email``: ``email_verified`` says from now on
    whether allauth holds that address verified for the user, so an address made primary
    without proof is not taken for proven (docs/decisions/0033). ``previous_email``: what
    it was, None if allauth did not say."""
    verified = EmailAddress.objects.filter(user=user, email__iexact=user.email or "", verified=True).exists()
    user_email_follow(actor=Actor.user(user), user=user, verified=verified, previous_email=previous_email)


@transaction.atomic
def signin_address_verify(*, actor: Actor, address: EmailAddress, request=None) -> bool:
    """Staff verify an address (allauth's row); where it is the user's email, ``email_verified``
    follows it and the user's tenants hear of it, as when the user confirms it by the link."""
    if not address.set_verified():
        return False
    user = address.user
    if normalize_email(address.email) == user.email:
        user_email_follow(actor=actor, user=user, verified=True, previous_email=user.email)
    email_confirmed.send(sender=EmailAddress, request=request, email_address=address)
    return True


def signin_phone_set(*, user: User, phone: str, verified: bool) -> None:
    user_profile_update(
        actor=Actor.user(user), user=user, changes={"phone_number": phone, "phone_number_verified": verified}
    )


def signin_signed_up(*, user: User, tenant) -> None:
    """A user allauth saved (its sign-up form, a provider's first sign-in) joins the tenant the
    sign-in serves, as ``user_register`` would have left it. The hub's own pages serve none."""
    if tenant is not None:
        user_registration_announce(actor=Actor.user(user), user=user, tenant=tenant)


# --- Sign-ups by code that never came back ---------------------------------------------

UNCONFIRMED_MAX_AGE = timedelta(hours=24)


def _anything_of(model, field: str = "user"):
    return Exists(model._base_manager.filter(**{field: OuterRef("pk")}))


def _unconfirmed_accounts(*, joined_before):
    """Accounts a code request made and nobody ever used: no sign-in, no proven address, no
    password, no provider, no authenticator, no consent or record of one, no token, nothing a
    tenant pushed, nothing staff did. Their one membership is the one the sign-up made: an
    account with none was not made by a code request for a tenant (staff, a seed), and stays."""
    kept_membership = Membership.all_tenants.filter(user=OuterRef("pk")).filter(
        ~Q(source=Membership.Source.SIGN_IN) | Q(external_id__isnull=False)
    )
    return (
        User.objects.filter(
            kind=User.Kind.REGISTERED,
            last_login__isnull=True,
            date_joined__lt=joined_before,
            password__startswith=UNUSABLE_PASSWORD_PREFIX,
            email_verified=False,
            phone_number_verified=False,
            is_staff=False,
            is_superuser=False,
            merged_into__isnull=True,
            merged_at__isnull=True,
            is_active=True,  # staff deactivated it: theirs to decide
        )
        .alias(membership_count=Count("memberships"))
        .filter(membership_count=1)  # the sign-up's own; none: made by staff or a seed
        .exclude(Exists(EmailAddress.objects.filter(user=OuterRef("pk"), verified=True)))
        .exclude(Exists(kept_membership))
        .exclude(_anything_of(User, "merged_into"))
        .exclude(_anything_of(LogEntry))
        .exclude(_anything_of(SocialAccount))
        .exclude(_anything_of(Authenticator))
        .exclude(_anything_of(Consent))
        .exclude(_anything_of(ConsentRecord))
        .exclude(_anything_of(AccessRecordSubject))
        .exclude(_anything_of(get_grant_model()))
        .exclude(_anything_of(get_access_token_model()))
        .exclude(_anything_of(get_refresh_token_model()))
        .exclude(_anything_of(get_id_token_model()))
    )


def signin_unconfirmed_accounts_purge(*, older_than: timedelta = UNCONFIRMED_MAX_AGE) -> int:
    """Delete the accounts code requests made longer than ``older_than`` ago and nobody
    confirmed (docs/decisions/0015); returns how many. Each goes in its own transaction,
    locked and checked again, so a sign-in arriving meanwhile keeps its account."""
    joined_before = timezone.now() - older_than
    purged = 0
    for user_id in _unconfirmed_accounts(joined_before=joined_before).values_list("pk", flat=True):
        purged += _unconfirmed_account_delete(user_id=user_id, joined_before=joined_before)
    if purged:
        logger.info("purged %d unconfirmed sign-up(s)", purged)
    return purged


@transaction.atomic
def _unconfirmed_account_delete(*, user_id: int, joined_before) -> int:
    candidates = _unconfirmed_accounts(joined_before=joined_before).filter(pk=user_id)
    user = User.objects.select_for_update(skip_locked=True).filter(pk__in=candidates.values("pk")).first()
    if user is None or AccessRecordSubjectBlock.all_tenants.filter(user_ids__contains=[user.pk]).exists():
        return 0
    Membership.all_tenants.filter(user=user).delete()
    user.delete()
    return 1


# --- Account mail (codes, confirmation and reset links): rendered here, sent by a worker --

MAIL_KIND = "signin-mail"


def signin_mail_schedule(*, message: EmailMessage) -> None:
    """Send a rendered email once the current transaction commits, from a worker: a slow
    mail server neither holds up the page nor tells, by its delay, whom the hub knows."""
    from accounts.signin.tasks import signin_mail_send_task

    kept = {
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "headers": dict(message.extra_headers),
        "content_subtype": message.content_subtype,
        "alternatives": [[content, mimetype] for content, mimetype in getattr(message, "alternatives", [])],
    }
    pending_send_on_commit(kind=MAIL_KIND, message=kept, task=signin_mail_send_task)


def signin_mail_deliver(*, message_id: str) -> None:
    """Send the waiting email; a failure raises and leaves it waiting for the retry."""
    kept = pending_get(kind=MAIL_KIND, message_id=message_id)
    if kept is None:
        return  # sent already, or waited too long to be of use
    alternatives, content_subtype = kept.pop("alternatives"), kept.pop("content_subtype")
    message = EmailMultiAlternatives(**kept)
    message.content_subtype = content_subtype
    for content, mimetype in alternatives:
        message.attach_alternative(content, mimetype)
    message.send()
    pending_drop(kind=MAIL_KIND, message_id=message_id)
