"""Token-signing keys: which one signs now, which ones the JWKS publishes, and rotation.

There are keys of two algorithms, each rotated on its own: RS256 (ID tokens, logout
tokens, JWT access tokens; mandatory in OpenID Connect and RFC 9068) and ES256 (JWT
access tokens of tenants that chose it; decision 21).

A relying party caches the JWKS (for ``OIDC_JWKS_MAX_AGE_SECONDS``), so a new key is
published that long before it starts signing, and a retired key stays published until
the last token it signed has expired. Rotation therefore never breaks a relying
party, and needs no coordination: the times in each row say what to do.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from jwcrypto import jwk
from oauth2_provider.settings import oauth2_settings

from harbourmaster.actors import Actor
from tenants.key_encryption import private_key_encrypt, private_key_reencrypted
from tenants.models import SigningKey

logger = logging.getLogger(__name__)

RSA_KEY_BITS = 2048
# A process may keep signing with the key it read for this long (accounts.oidc.jwt_tokens),
# so after a rotation that takes effect at once a retired key may sign that much later.
PROCESS_KEY_CACHE_SECONDS = 60
Algorithm = SigningKey.Algorithm

FIRST_KEY_ACTOR = Actor.system("first-signing-key")


def _generate(algorithm: str) -> jwk.JWK:
    if algorithm == Algorithm.ES256:
        return jwk.JWK.generate(kty="EC", crv="P-256")
    return jwk.JWK.generate(kty="RSA", size=RSA_KEY_BITS)


def _key_create(*, actor: Actor, algorithm: str, activated_at: datetime) -> SigningKey:
    key = _generate(algorithm)
    return SigningKey.objects.create(
        kid=key.thumbprint(),
        algorithm=algorithm,
        private_key_encrypted=private_key_encrypt(key.export_to_pem(private_key=True, password=None).decode("ascii")),
        activated_at=activated_at,
        created_by=str(actor),
    )


def _signing_at(at: datetime, algorithm: str) -> QuerySet[SigningKey]:
    return (
        SigningKey.objects.filter(algorithm=algorithm, activated_at__lte=at)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=at))
        .order_by("-activated_at", "-id")
    )


def signing_key_current(algorithm: str = Algorithm.RS256) -> SigningKey:
    """The key that signs now with ``algorithm``; see below for a first key.

    RS256: on a fresh install the first key is made here and signs at once (nobody has
    seen a JWKS yet). Two processes doing so at once each make one: both are published,
    the later one signs, and tokens signed by the other still verify, so no lock is needed.

    ES256: the first key is published here and signs only after the JWKS cache lifetime,
    like any rotation, so no resource server meets its ``kid`` before its JWKS has it.
    Until then the RS256 key signs, which every RFC 9068 resource server accepts.
    """
    now = timezone.now()
    key = _signing_at(now, algorithm).first()
    if key is not None:
        return key
    if algorithm == Algorithm.RS256:
        return _key_create(actor=FIRST_KEY_ACTOR, algorithm=algorithm, activated_at=now)
    if not SigningKey.objects.filter(algorithm=algorithm).exists():
        publish_ahead = timedelta(seconds=oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS)
        _key_create(actor=FIRST_KEY_ACTOR, algorithm=algorithm, activated_at=now + publish_ahead)
    return signing_key_current(Algorithm.RS256)


def published_after_retirement() -> timedelta:
    """How long a retired key stays published: the longest a token signed by our keys lives
    (an ID token or an access token), from the last moment a process may sign with it."""
    seconds = max(oauth2_settings.ID_TOKEN_EXPIRE_SECONDS, oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    return timedelta(seconds=seconds + PROCESS_KEY_CACHE_SECONDS)


def signing_keys_published(at: datetime | None = None) -> QuerySet[SigningKey]:
    """Keys, of every algorithm, a relying party may meet: upcoming, signing, or retired
    with tokens still alive."""
    at = at or timezone.now()
    still_verifying = at - published_after_retirement()
    return (
        SigningKey.objects.filter(created_at__lte=at)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=still_verifying))
        .order_by("algorithm", "-activated_at", "-id")
    )


def signing_key_by_kid(kid: str) -> SigningKey | None:
    # Any key we made verifies our own tokens, published or not (e.g. an expired
    # id_token_hint at logout, which the JWKS may no longer list).
    return SigningKey.objects.filter(kid=kid).first() if kid else None


@transaction.atomic
def signing_key_rotate(
    *, actor: Actor, algorithm: str = Algorithm.RS256, publish_ahead: timedelta | None = None
) -> SigningKey:
    """Make a new ``algorithm`` key that starts signing after ``publish_ahead`` (the JWKS
    cache lifetime).

    Every key of that algorithm still signing then, or later, retires the moment the new
    one starts; keys of the other algorithm are untouched.
    """
    if algorithm not in Algorithm.values:
        raise ValueError(f"unknown signing algorithm {algorithm!r}")
    if publish_ahead is None:
        publish_ahead = timedelta(seconds=oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS)
    if publish_ahead < timedelta(0):
        raise ValueError("publish_ahead must not be negative")
    if algorithm == Algorithm.RS256:
        signing_key_current()  # a first rotation retires a real key, so there is always one signing
    activate_at = timezone.now() + publish_ahead
    SigningKey.objects.filter(algorithm=algorithm).filter(
        Q(retired_at__isnull=True) | Q(retired_at__gt=activate_at)
    ).update(retired_at=activate_at)
    return _key_create(actor=actor, algorithm=algorithm, activated_at=activate_at)


@transaction.atomic
def signing_keys_reencrypt(*, actor: Actor) -> int:
    """Encrypt every private key again under the first of SIGNING_KEY_ENCRYPTION_KEYS.

    Run after putting a new encryption key first; the old one can then be dropped.
    Returns how many keys were rewritten.
    """
    keys = list(SigningKey.objects.select_for_update().only("pk", "private_key_encrypted"))
    for key in keys:
        key.private_key_encrypted = private_key_reencrypted(key.private_key_encrypted)
    SigningKey.objects.bulk_update(keys, ["private_key_encrypted"])
    logger.info("%d signing key(s) re-encrypted by %s", len(keys), actor)
    return len(keys)
