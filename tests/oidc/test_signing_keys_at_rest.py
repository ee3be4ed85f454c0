"""Signing keys' private halves are encrypted at rest under SIGNING_KEY_ENCRYPTION_KEYS,
and a new encryption key can be put first without losing the old keys (decision 21)."""

import sqlite3
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from jwcrypto import jwk, jws

from harbourmaster.actors import Actor
from tenants.key_encryption import decrypted_keys_forget, fernet_for, private_key_decrypt
from tenants.keys import signing_key_current, signing_key_rotate
from tenants.models import SigningKey
from tests.test_migrations import manage

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR = Actor.system("tests")
NEW_ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _forget_decrypted_keys():
    decrypted_keys_forget()
    yield
    decrypted_keys_forget()


@pytest.fixture
def both_kinds(db) -> list[SigningKey]:
    return [signing_key_current(), signing_key_rotate(actor=OPERATOR, algorithm="ES256", publish_ahead=timedelta(0))]


def stored_column() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key_encrypted FROM tenants_signingkey ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def signs_and_verifies(key: SigningKey) -> bool:
    """The decrypted key is the published one: it signs what its public half verifies."""
    private = SigningKey.objects.get(pk=key.pk).jwk
    token = jws.JWS(b"payload")
    token.add_signature(private, alg=key.algorithm, protected={"alg": key.algorithm})
    public = jwk.JWK.from_json(private.export_public())
    checked = jws.JWS()
    checked.deserialize(token.serialize(compact=True))
    checked.verify(public, alg=key.algorithm)
    return private.thumbprint() == key.kid


def test_the_database_holds_no_private_key_in_the_clear(both_kinds):
    stored = stored_column()
    assert len(stored) == 2
    for value in stored:
        assert "PRIVATE KEY" not in value and "-----" not in value
        assert fernet_for().decrypt(value.encode()).startswith(b"-----BEGIN PRIVATE KEY-----")
    with connection.cursor() as cursor:
        columns = [
            column.name for column in connection.introspection.get_table_description(cursor, "tenants_signingkey")
        ]
    assert "private_key_pem" not in columns
    assert all(signs_and_verifies(key) for key in both_kinds)


def test_a_new_encryption_key_first_still_decrypts_the_old_ones_and_reencrypting_moves_them(settings, both_kinds):
    old_keys = list(settings.SIGNING_KEY_ENCRYPTION_KEYS)
    before = stored_column()
    with override_settings(SIGNING_KEY_ENCRYPTION_KEYS=[NEW_ENCRYPTION_KEY, *old_keys]):
        decrypted_keys_forget()
        assert all(signs_and_verifies(key) for key in both_kinds)
        out = StringIO()
        call_command("reencrypt_signing_keys", stdout=out)
        assert "2 signing key(s)" in out.getvalue()
    after = stored_column()
    assert not set(before) & set(after)

    with override_settings(SIGNING_KEY_ENCRYPTION_KEYS=[NEW_ENCRYPTION_KEY]):  # the old key dropped
        decrypted_keys_forget()
        assert all(signs_and_verifies(key) for key in both_kinds)
    with override_settings(SIGNING_KEY_ENCRYPTION_KEYS=old_keys):  # and the new one lost
        decrypted_keys_forget()
        with pytest.raises(InvalidToken):
            _ = SigningKey.objects.get(pk=both_kinds[0].pk).jwk


def test_each_process_decrypts_a_key_once(both_kinds):
    key = SigningKey.objects.get(pk=both_kinds[0].pk)
    first = key.jwk
    misses = private_key_decrypt.cache_info().misses
    for _ in range(5):
        assert SigningKey.objects.get(pk=key.pk).jwk is first
    assert private_key_decrypt.cache_info().misses == misses


def test_new_keys_use_the_first_encryption_key(settings, db):
    with override_settings(SIGNING_KEY_ENCRYPTION_KEYS=[NEW_ENCRYPTION_KEY, *settings.SIGNING_KEY_ENCRYPTION_KEYS]):
        key = signing_key_current()
    [stored] = stored_column()
    assert Fernet(NEW_ENCRYPTION_KEY.encode()).decrypt(stored.encode()).startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key.kid


# --- The data migration ---------------------------------------------------------------------


def test_the_migration_encrypts_existing_keys_and_its_reverse_restores_them(tmp_path, monkeypatch):
    """On a database of its own (SQLite, in a subprocess): 0005 with a clear PEM, then 0006."""
    database_file = tmp_path / "keys.sqlite3"
    database_url = f"sqlite:///{database_file}"
    monkeypatch.setenv("SIGNING_KEY_ENCRYPTION_KEYS", NEW_ENCRYPTION_KEY)
    migrated = manage("migrate", "--noinput", "tenants", "0005", database_url=database_url, var_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    key = jwk.JWK.generate(kty="RSA", size=2048)
    pem = key.export_to_pem(private_key=True, password=None).decode()
    with sqlite3.connect(database_file) as database:
        database.execute(
            "INSERT INTO tenants_signingkey (kid, algorithm, private_key_pem, created_at, activated_at, created_by)"
            " VALUES (?, 'RS256', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'tests')",
            (key.thumbprint(), pem),
        )

    forward = manage("migrate", "--noinput", "tenants", "0006", database_url=database_url, var_dir=tmp_path)
    assert forward.returncode == 0, forward.stdout + forward.stderr
    with sqlite3.connect(database_file) as database:
        [(encrypted,)] = database.execute("SELECT private_key_encrypted FROM tenants_signingkey").fetchall()
        columns = [row[1] for row in database.execute("PRAGMA table_info(tenants_signingkey)")]
    assert "private_key_pem" not in columns and "PRIVATE KEY" not in encrypted
    assert Fernet(NEW_ENCRYPTION_KEY.encode()).decrypt(encrypted.encode()).decode() == pem

    backward = manage("migrate", "--noinput", "tenants", "0005", database_url=database_url, var_dir=tmp_path)
    assert backward.returncode == 0, backward.stdout + backward.stderr
    with sqlite3.connect(database_file) as database:
        assert database.execute("SELECT private_key_pem FROM tenants_signingkey").fetchall() == [(pem,)]
