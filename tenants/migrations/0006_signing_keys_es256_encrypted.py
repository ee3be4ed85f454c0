from django.conf import settings
from django.db import migrations, models

from tenants.key_encryption import fernet_for


def encrypt_private_keys(apps, schema_editor):
    # The setting as it is when the migration runs: the first key encrypts.
    fernet = fernet_for(settings.SIGNING_KEY_ENCRYPTION_KEYS)
    SigningKey = apps.get_model("tenants", "SigningKey")
    for key in SigningKey.objects.only("pk", "private_key_pem"):
        encrypted = fernet.encrypt(key.private_key_pem.encode("ascii")).decode("ascii")
        SigningKey.objects.filter(pk=key.pk).update(private_key_encrypted=encrypted)


def decrypt_private_keys(apps, schema_editor):
    fernet = fernet_for(settings.SIGNING_KEY_ENCRYPTION_KEYS)
    SigningKey = apps.get_model("tenants", "SigningKey")
    # The older code knows only RS256 keys; an ES256 key cannot go back with it.
    SigningKey.objects.exclude(algorithm="RS256").delete()
    for key in SigningKey.objects.only("pk", "private_key_encrypted"):
        pem = fernet.decrypt(key.private_key_encrypted.encode("ascii")).decode("ascii")
        SigningKey.objects.filter(pk=key.pk).update(private_key_pem=pem)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_backchannel_logout"),
    ]

    operations = [
        migrations.AlterField(
            model_name="signingkey",
            name="algorithm",
            field=models.CharField(
                choices=[("RS256", "RSA with SHA-256"), ("ES256", "ECDSA P-256 with SHA-256")],
                default="RS256",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="signingkey",
            name="private_key_encrypted",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="signingkey",
            name="private_key_pem",
            field=models.TextField(default=""),
        ),
        migrations.RunPython(encrypt_private_keys, decrypt_private_keys),
        migrations.RemoveField(
            model_name="signingkey",
            name="private_key_pem",
        ),
    ]
