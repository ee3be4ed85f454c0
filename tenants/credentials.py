"""Client secrets: generated with 256 bits of entropy, stored as an HMAC-SHA256.

A keyed fast hash is the right tool for a random secret (unlike a password it cannot
be guessed from a dictionary), and it keeps the token endpoint fast: the password
hasher would cost milliseconds on every machine-to-machine request. See
docs/decisions/0003-client-secrets.md.
"""

import hashlib
import hmac
import secrets

from django.conf import settings

SECRET_PREFIX = "hms_"  # noqa: S105 - lets secret scanners recognise a leaked Harbourmaster secret
DISPLAY_PREFIX_LENGTH = 8


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    key = settings.CLIENT_SECRET_HASH_KEY.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def secret_display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LENGTH]
