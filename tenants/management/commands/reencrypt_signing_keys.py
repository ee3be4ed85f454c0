from django.core.management.base import BaseCommand

from harbourmaster.actors import Actor
from tenants.keys import signing_keys_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every signing key's private key again under the first of SIGNING_KEY_ENCRYPTION_KEYS. "
        "Run it after putting a new encryption key first; then the old one can be removed."
    )

    def handle(self, *args, **options):
        count = signing_keys_reencrypt(actor=Actor.system("reencrypt_signing_keys"))
        self.stdout.write(f"{count} signing key(s) re-encrypted under the first encryption key")
