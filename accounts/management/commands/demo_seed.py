"""Seed a working demo: a tenant, its two clients, two purposes, three users, a staff account.

Idempotent: each item is looked up by its natural key and created through its service
only when missing, so a second run writes nothing. An item that exists is left as it
is, even if someone changed it since (a withdrawn demo consent stays withdrawn).

Refuses to run in production: it creates a superuser whose password is published in
the README.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Membership, User
from accounts.services import user_register
from consents.models import Channel, Consent, Purpose
from consents.services import consent_grant, purpose_create
from harbourmaster.actors import Actor
from tenants.models import Client, ClientSecret, Tenant
from tenants.services import client_create, client_secret_rotate, tenant_create

ACTOR = Actor.system("demo_seed")

# Published in README.md; never valid anywhere but a local demo (see handle()).
DEMO_PASSWORD = "harbourmaster-demo"  # noqa: S105
STAFF_EMAIL = "staff@demo.example"

TENANT_SLUG = "demo"
TENANT_FIELDS = {
    "name": "Demo Harbour",
    "contact_email": "ops@demo.example",
    "config": {
        "login_methods": ["password", "email_code", "sms_code", "guest"],
        "otp": {"channels": ["email", "sms"]},
        "allowed_scopes": ["openid", "profile", "email", "address"],
        "branding": {"display_name": "Demo Harbour", "primary_color": "#1f4e79"},
        "locales": ["en", "de"],
    },
}

BACKEND_NAME = "Demo backend"
BACKEND_FIELDS = {
    "client_type": Client.CLIENT_CONFIDENTIAL,
    "grant_type": Client.GRANT_CLIENT_CREDENTIALS,
    "allowed_scopes": ["users:read", "users:write", "consents:write", "events:read"],
}
APP_NAME = "Demo app"
APP_FIELDS = {
    "client_type": Client.CLIENT_PUBLIC,
    "grant_type": Client.GRANT_AUTHORIZATION_CODE,
    "redirect_uris": ["http://127.0.0.1:8080/callback"],
    "allowed_scopes": ["openid", "profile", "email"],
}

PURPOSES = {
    "newsletter": {
        "name": "Newsletter",
        "statement": "Demo Harbour may email me its weekly newsletter. I can unsubscribe at any time.",
        "data_categories": ["email"],
    },
    "postal-marketing": {
        "name": "Postal marketing",
        "statement": "Demo Harbour may send offers to my postal address. I can withdraw this at any time.",
        "data_categories": ["profile", "address"],
    },
}


@dataclass(frozen=True)
class DemoUser:
    email: str
    profile: dict[str, str]
    consents: tuple[str, ...] = field(default=())


USERS = (
    DemoUser(
        "mara.lindqvist@demo.example",
        {
            "given_name": "Mara",
            "family_name": "Lindqvist",
            "address_street": "Hafenstraße 12",
            "address_postal_code": "20457",
            "address_locality": "Hamburg",
            "address_country": "DE",
        },
        ("newsletter", "postal-marketing"),
    ),
    DemoUser(
        "tomas.ferreira@demo.example",
        {
            "given_name": "Tomás",
            "family_name": "Ferreira",
            "address_street": "Rua das Flores 45",
            "address_postal_code": "1200-195",
            "address_locality": "Lisboa",
            "address_country": "PT",
        },
        ("newsletter",),
    ),
    DemoUser(
        "priya.raman@demo.example",
        {
            "given_name": "Priya",
            "family_name": "Raman",
            "address_street": "221 Harbour Road",
            "address_postal_code": "BS1 5TY",
            "address_locality": "Bristol",
            "address_country": "GB",
        },
        ("postal-marketing",),
    ),
)


@dataclass
class SeedResult:
    tenant: Tenant
    backend: Client
    app: Client
    purposes: list[Purpose]
    users: list[User]
    staff: User
    new_secret: str | None = None
    created: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = "Create the demo tenant, clients, purposes, users and staff account (idempotent; never in production)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate-secret",
            action="store_true",
            help="Issue a new secret for the Demo backend client and print it; the old one stops working now.",
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the hub is served, for the printed links."
        )

    def handle(self, *args, rotate_secret: bool, base_url: str, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "demo_seed refuses to run in production (HARBOURMASTER_ENV=production): "
                "it creates a superuser with a published password."
            )
        with transaction.atomic():
            result = seed()
            if rotate_secret:
                result.new_secret = client_secret_rotate(actor=ACTOR, client=result.backend)
                result.created.append("client secret")
        self.stdout.write(summary(result, base_url=base_url.rstrip("/")))


# --- Seeding: look up by natural key, create through the service when missing ------------------


def seed() -> SeedResult:
    created: list[str] = []
    tenant = _tenant(created)
    backend, secret = _client(tenant, BACKEND_NAME, BACKEND_FIELDS, created)
    app, _ = _client(tenant, APP_NAME, APP_FIELDS, created)
    purposes = {slug: _purpose(tenant, slug, created) for slug in PURPOSES}
    users = [_user(tenant, demo_user, purposes, created) for demo_user in USERS]
    staff = _staff(created)
    return SeedResult(tenant, backend, app, list(purposes.values()), users, staff, secret, created)


def _tenant(created: list[str]) -> Tenant:
    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        tenant = tenant_create(actor=ACTOR, slug=TENANT_SLUG, **TENANT_FIELDS)
        created.append("tenant")
    return tenant


def _client(tenant: Tenant, name: str, fields: dict, created: list[str]) -> tuple[Client, str | None]:
    client = Client.objects.filter(tenant=tenant, name=name).order_by("pk").first()
    if client is not None:
        return client, None
    created.append("client")
    return client_create(actor=ACTOR, tenant=tenant, name=name, **fields)


def _purpose(tenant: Tenant, slug: str, created: list[str]) -> Purpose:
    purpose = Purpose.all_tenants.filter(tenant=tenant, slug=slug).first()
    if purpose is None:
        purpose = purpose_create(actor=ACTOR, tenant=tenant, slug=slug, **PURPOSES[slug])
        created.append("purpose")
    return purpose


def _user(tenant: Tenant, demo_user: DemoUser, purposes: dict[str, Purpose], created: list[str]) -> User:
    user = User.objects.filter(email=demo_user.email).first()
    if user is None:
        user = user_register(
            actor=ACTOR,
            email=demo_user.email,
            password=DEMO_PASSWORD,
            tenant=tenant,
            source=Membership.Source.IMPORT,
            email_verified=True,
            **demo_user.profile,
        )
        created.append("user")
    for slug in demo_user.consents:
        _consent(user, purposes[slug], created)
    return user


def _consent(user: User, purpose: Purpose, created: list[str]) -> None:
    # Any consent row, granted or withdrawn, is the user's answer: the seed never overrides it.
    if Consent.all_tenants.filter(user=user, purpose=purpose).exists():
        return
    consent_grant(actor=ACTOR, user=user, purpose=purpose, channel=Channel.IMPORT, source="demo_seed")
    created.append("consent")


def _staff(created: list[str]) -> User:
    staff = User.objects.filter(email=STAFF_EMAIL).first()
    if staff is None:
        staff = User.objects.create_superuser(STAFF_EMAIL, DEMO_PASSWORD, given_name="Demo", family_name="Staff")
        created.append("staff user")
    return staff


# --- Output ---------------------------------------------------------------------------------------


def summary(result: SeedResult, *, base_url: str) -> str:
    headline = _headline(result.created)
    lines = [
        "Harbourmaster demo",
        headline,
        "",
        f"Tenant     {result.tenant.slug} ({result.tenant.name})",
        *_backend_lines(result, base_url),
        f"App        {result.app.name}: client_id {result.app.client_id}",
        f"           authorization code + PKCE, redirect {result.app.redirect_uris}, scopes {' '.join(result.app.allowed_scopes)}",
        "Purposes   " + ", ".join(f"{p.slug} ({' + '.join(p.data_categories)})" for p in result.purposes),
        *_user_lines(result.users),
        "",
        f"Sign in to the admin at {base_url}/admin/",
        f"           as {result.staff.email} with password {DEMO_PASSWORD}",
        "           (the demo users above have the same password)",
        f"OpenID Connect discovery: {base_url}/.well-known/openid-configuration",
        f"Tenant API docs: {base_url}/api/docs/ (token from {base_url}/o/token/)",
        f"Health: {base_url}/health/ready",
    ]
    return "\n".join(lines)


def _headline(created: list[str]) -> str:
    if not created:
        return "Nothing new: the demo already exists."
    counts = Counter(created)  # keeps the order things were created in
    return "Created " + ", ".join(f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in counts.items()) + "."


def _backend_lines(result: SeedResult, base_url: str) -> list[str]:
    backend = result.backend
    lines = [
        f"Backend    {backend.name}: client_id {backend.client_id}",
        f"           client credentials, scopes {' '.join(backend.allowed_scopes)}",
    ]
    if result.new_secret:
        lines.append(f"           client secret {result.new_secret}")
        lines.append("           (shown only now: the hub stores only its hash)")
        lines.append(
            f"           try: curl -u '{backend.client_id}:{result.new_secret}' "
            f"-d grant_type=client_credentials -d scope=users:read {base_url}/o/token/"
        )
        return lines
    masked = ", ".join(secret.masked for secret in ClientSecret.all_tenants.filter(client=backend).active())
    lines.append(f"           client secret exists ({masked or 'none active'}); it was shown once, when issued.")
    lines.append("           For a new one: python manage.py demo_seed --rotate-secret")
    return lines


def _user_lines(users: list[User]) -> list[str]:
    lines = []
    for index, user in enumerate(users):
        granted = Consent.all_tenants.filter(user=user, state=Consent.State.GRANTED).order_by("purpose__slug")
        consents = ", ".join(granted.values_list("purpose__slug", flat=True)) or "none"
        label = "Users      " if index == 0 else "           "
        lines.append(
            f"{label}{user.email}: {user.name}, {user.address_locality} {user.address_country}; consents {consents}"
        )
    return lines
