"""Writes of the code sign-in: the account a code is sent for, and what the code proved."""

import logging
from datetime import timedelta

from allauth.account.models import EmailAddress
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
from accounts.services import user_profile_update, user_register, user_registration_announce
from accounts.signin.pending import pending_drop, pending_get, pending_send_on_commit
from audit.models import AccessRecordSubject, AccessRecordSubjectBlock
from consents.models import Consent, ConsentRecord
from harbourmaster.actors import Actor

logger = logging.getLogger(__name__)

ACTOR = Actor.system("sign-in by code")


def signin_code_account_ensure(*, email: str | None = None, phone: str | None = None, tenant=None) -> User | None:
    """The account a code for ``email``/``phone`` signs in to, made now if there is none.

    A new address signs up by code: the account exists from here on, unverified and without
    a password, as after allauth's own sign-up form, linked to the ``tenant`` the sign-in
    serves (which hears ``user.created``); the code then proves the address. None when the
    address belongs to an account that cannot sign in (deactivated).
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
    if user is None or not user.is_active or user.is_guest:
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
