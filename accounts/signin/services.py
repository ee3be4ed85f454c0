"""Writes of the code sign-in: the account a code is sent for, and what the code proved."""

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User, normalize_email
from accounts.services import user_profile_update, user_register
from harbourmaster.actors import Actor

ACTOR = Actor.system("sign-in by code")


def signin_code_account_ensure(*, email: str | None = None, phone: str | None = None) -> User | None:
    """The account a code for ``email``/``phone`` signs in to, made now if there is none.

    A new address signs up by code: the account exists from here on, unverified and without
    a password, as after allauth's own sign-up form; the code then proves the address. None
    when the address belongs to an account that cannot sign in (deactivated).
    """
    email = normalize_email(email)
    lookup = {"email": email} if email else {"phone_number": phone}
    user = User.objects.filter(**lookup).first()
    if user is None:
        try:
            with transaction.atomic():
                user = user_register(actor=ACTOR, email=email, phone_number=phone)
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
