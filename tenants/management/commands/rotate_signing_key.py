from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.settings import oauth2_settings

from harbourmaster.actors import Actor
from tenants.keys import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Make a new ID-token signing key. It is published in the JWKS at once and starts "
        "signing after --publish-ahead seconds (default: the JWKS cache lifetime), when the "
        "current key retires; the retired key stays published until its tokens have expired."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--publish-ahead",
            type=int,
            default=oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS,
            help="seconds between publishing the new key and signing with it",
        )

    def handle(self, *args, publish_ahead: int, **options):
        if publish_ahead < 0:
            raise CommandError("--publish-ahead must not be negative")
        key = signing_key_rotate(
            actor=Actor.system("rotate_signing_key"), publish_ahead=timedelta(seconds=publish_ahead)
        )
        self.stdout.write(f"New signing key {key.kid}: published now, signing from {key.activated_at.isoformat()}")
