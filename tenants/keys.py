"""ID-token signing keys: which one signs now, which ones the JWKS publishes, and rotation.

A relying party caches the JWKS (for ``OIDC_JWKS_MAX_AGE_SECONDS``), so a new key is
published that long before it starts signing, and a retired key stays published until
the last ID token it signed has expired. Rotation therefore never breaks a relying
party, and needs no coordination: the times in each row say what to do.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from jwcrypto import jwk
from oauth2_provider.settings import oauth2_settings

from harbourmaster.actors import Actor
from tenants.models import SigningKey

RSA_KEY_BITS = 2048


FIRST_KEY_ACTOR = Actor.system("first-signing-key")


def _key_create(*, actor: Actor, activated_at: datetime) -> SigningKey:
    key = jwk.JWK.generate(kty="RSA", size=RSA_KEY_BITS)
    return SigningKey.objects.create(
        kid=key.thumbprint(),
        private_key_pem=key.export_to_pem(private_key=True, password=None).decode("ascii"),
        activated_at=activated_at,
        created_by=str(actor),
    )


def _signing_at(at: datetime) -> QuerySet[SigningKey]:
    return SigningKey.objects.filter(activated_at__lte=at).filter(Q(retired_at__isnull=True) | Q(retired_at__gt=at))


def signing_key_current() -> SigningKey:
    """The key that signs now; on a fresh install, the first key is made here.

    Two processes making the first key at once each make one: both are published, the
    later one signs, and tokens signed by the other still verify, so no lock is needed.
    """
    now = timezone.now()
    key = _signing_at(now).order_by("-activated_at", "-id").first()
    return key or _key_create(actor=FIRST_KEY_ACTOR, activated_at=now)


def signing_keys_published(at: datetime | None = None) -> QuerySet[SigningKey]:
    """Keys a relying party may meet: upcoming, signing, or retired with tokens still alive."""
    at = at or timezone.now()
    still_verifying = at - timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS)
    return (
        SigningKey.objects.filter(created_at__lte=at)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=still_verifying))
        .order_by("-activated_at", "-id")
    )


def signing_key_by_kid(kid: str) -> SigningKey | None:
    # Any key we made verifies our own tokens, published or not (e.g. an expired
    # id_token_hint at logout, which the JWKS may no longer list).
    return SigningKey.objects.filter(kid=kid).first() if kid else None


@transaction.atomic
def signing_key_rotate(*, actor: Actor, publish_ahead: timedelta | None = None) -> SigningKey:
    """Make a new key that starts signing after ``publish_ahead`` (the JWKS cache lifetime).

    Every key still signing then, or later, retires the moment the new one starts.
    """
    if publish_ahead is None:
        publish_ahead = timedelta(seconds=oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS)
    if publish_ahead < timedelta(0):
        raise ValueError("publish_ahead must not be negative")
    signing_key_current()  # a first rotation retires a real key, so there is always one signing
    activate_at = timezone.now() + publish_ahead
    SigningKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=activate_at)).update(retired_at=activate_at)
    return _key_create(actor=actor, activated_at=activate_at)
