"""Signing keys' private halves, encrypted at rest (decision 21).

The database holds each private key as a Fernet token (AES-128-CBC + HMAC-SHA256) under
``SIGNING_KEY_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts, so an
encryption key is rotated by putting a new one first and re-encrypting
(``manage.py reencrypt_signing_keys``), the same scheme as the MFA secrets
(accounts/signin/mfa_adapter.py). A copy of the database alone signs nothing.

Decrypting and parsing a key costs a Fernet decryption and a PEM parse (an RSA key's
takes about a millisecond), so each process keeps the parsed key, by its ciphertext: a
row that is re-encrypted is simply a new entry.
"""

from functools import lru_cache

from cryptography.fernet import MultiFernet
from django.conf import settings
from jwcrypto import jwk

from harbourmaster.encryption import fernet_of

# Another label than the MFA secrets', so one secret given to both yields two keys.
LABEL = b"harbourmaster-signing-key"


def fernet_for(keys: list[str] | tuple[str, ...] | None = None) -> MultiFernet:
    """The MultiFernet of ``keys``, by default of the setting (migrations pass their own)."""
    return fernet_of(tuple(keys if keys is not None else settings.SIGNING_KEY_ENCRYPTION_KEYS), LABEL)


def private_key_encrypt(pem: str) -> str:
    return fernet_for().encrypt(pem.encode("ascii")).decode("ascii")


def private_key_reencrypted(encrypted: str) -> str:
    """The same key under the first encryption key (MultiFernet.rotate)."""
    return fernet_for().rotate(encrypted.encode("ascii")).decode("ascii")


@lru_cache(maxsize=64)
def private_key_decrypt(encrypted: str) -> jwk.JWK:
    """The parsed private key; raises cryptography's InvalidToken if no key decrypts it."""
    return jwk.JWK.from_pem(fernet_for().decrypt(encrypted.encode("ascii")))


def decrypted_keys_forget() -> None:
    """Drop the parsed keys (tests that change SIGNING_KEY_ENCRYPTION_KEYS)."""
    private_key_decrypt.cache_clear()
