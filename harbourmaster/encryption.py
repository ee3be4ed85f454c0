"""Fernet keys from the secrets operators configure, for data encrypted at rest.

A setting holds a list of secrets: the first encrypts, every one decrypts (MultiFernet),
so a key is rotated by putting a new one first and re-encrypting. A secret made by
``Fernet.generate_key`` is used as it is; any other string is stretched with SHA-256
under a label of its own per use, so one secret given to two settings yields two keys.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, MultiFernet


def _fernet_key(secret: str, label: bytes) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(label + b":" + secret.encode()).digest())


@cache
def fernet_of(secrets: tuple[str, ...], label: bytes) -> MultiFernet:
    """The MultiFernet of ``secrets`` for the use named ``label``."""
    return MultiFernet([Fernet(_fernet_key(secret, label)) for secret in secrets])
