from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.settings import oauth2_settings

from harbourmaster.actors import Actor
from tenants.keys import signing_key_rotate
from tenants.models import SigningKey


class Command(BaseCommand):
    help = (
        "Make a new token-signing key of one algorithm. It is published in the JWKS at once and "
        "starts signing after --publish-ahead seconds (default: the JWKS cache lifetime), when the "
        "current key of that algorithm retires; the retired key stays published until its tokens "
        "have expired. RS256 signs ID tokens (and JWT access tokens by default), ES256 the JWT "
        "access tokens of tenants that chose it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--algorithm",
            choices=SigningKey.Algorithm.values,
            default=SigningKey.Algorithm.RS256,
            help="which kind of key to rotate (default: RS256)",
        )
        parser.add_argument(
            "--publish-ahead",
            type=int,
            default=oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS,
            help="seconds between publishing the new key and signing with it",
        )

    def handle(self, *args, algorithm: str, publish_ahead: int, **options):
        if publish_ahead < 0:
            raise CommandError("--publish-ahead must not be negative")
        key = signing_key_rotate(
            actor=Actor.system("rotate_signing_key"),
            algorithm=algorithm,
            publish_ahead=timedelta(seconds=publish_ahead),
        )
        self.stdout.write(
            f"New {key.algorithm} signing key {key.kid}: published now, signing from {key.activated_at.isoformat()}"
        )
