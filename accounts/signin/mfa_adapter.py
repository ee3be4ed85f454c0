"""allauth's MFA adapter: second-factor secrets encrypted at rest.

allauth stores each TOTP key and recovery-code seed in ``Authenticator.data`` as given;
here they are Fernet tokens (AES-128-CBC + HMAC-SHA256) under ``MFA_ENCRYPTION_KEYS``:
the first key encrypts, every key decrypts, so a key is rotated by putting a new one
first and re-saving. A copy of the database alone no longer yields anyone's codes.
Passkeys (WebAuthn) are stored as allauth keeps them, unencrypted: a credential's data is
its public key, id and counter, which sign nothing and prove nothing without the device.
"""

import base64
import hashlib
from functools import cache

from allauth.mfa.adapter import DefaultMFAAdapter
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings

PREFIX = "fernet:"


def _fernet_key(secret: str) -> bytes:
    """A Fernet key from any secret string (a key made by ``Fernet.generate_key`` stays as is)."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(b"harbourmaster-mfa:" + secret.encode()).digest())


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in settings.MFA_ENCRYPTION_KEYS])


class HubMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return PREFIX + _fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(PREFIX):
            return encrypted_text  # stored before encryption was switched on
        return _fernet().decrypt(encrypted_text.removeprefix(PREFIX).encode()).decode()
