"""allauth's MFA adapter: second-factor secrets encrypted at rest.

allauth stores each TOTP key and recovery-code seed in ``Authenticator.data`` as given;
here they are Fernet tokens (AES-128-CBC + HMAC-SHA256) under ``MFA_ENCRYPTION_KEYS``:
the first key encrypts, every key decrypts, so a key is rotated by putting a new one
first and re-saving. A copy of the database alone no longer yields anyone's codes.
Passkeys (WebAuthn) are stored as allauth keeps them, unencrypted: a credential's data is
its public key, id and counter, which sign nothing and prove nothing without the device.
"""

from allauth.mfa.adapter import DefaultMFAAdapter
from cryptography.fernet import MultiFernet
from django.conf import settings

from harbourmaster.encryption import fernet_of

PREFIX = "fernet:"


def _fernet() -> MultiFernet:
    return fernet_of(tuple(settings.MFA_ENCRYPTION_KEYS), b"harbourmaster-mfa")


class HubMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return PREFIX + _fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(PREFIX):
            return encrypted_text  # stored before encryption was switched on
        return _fernet().decrypt(encrypted_text.removeprefix(PREFIX).encode()).decode()
