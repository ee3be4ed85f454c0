"""The standing world: two tenants, each with clients, purposes and users.

Acme (a newspaper) and Bolt (a shop) share the hub. Alice consents to Acme's newsletter,
Bob to Bolt's postal marketing, Carol to nothing. Every endpoint's cross-tenant test
asks Bolt for Acme's things and expects to find nothing.
"""

from dataclasses import dataclass

import pytest
from django.core.cache import cache

from accounts.models import User
from accounts.oidc.failure_budget import failure_suspects_forget
from accounts.oidc.jwt_tokens import signing_key_forget
from accounts.services import user_register
from consents.models import Channel, Purpose
from consents.services import consent_grant, purpose_create
from harbourmaster.actors import Actor
from harbourmaster.celery import app as celery_app
from tenants.models import Client, Tenant
from tenants.services import client_create, tenant_create

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _eager_tasks(request):
    """Tasks run inline, as in the embedded default, also when REDIS_URL is set.

    A test that needs the real broker and a worker process marks itself ``real_broker``.
    """
    if request.node.get_closest_marker("real_broker"):
        yield
        return
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The process also keeps the signing key it last read (a test rolls back the key it
    # made, and no later test may sign with it) and the addresses it saw fail.
    cache.clear()
    signing_key_forget()
    failure_suspects_forget()
    yield
    cache.clear()
    signing_key_forget()
    failure_suspects_forget()


@pytest.fixture
def actor() -> Actor:
    return SYSTEM


@pytest.fixture
def make_tenant(db):
    def make(slug: str = "acme", **fields) -> Tenant:
        fields.setdefault("name", slug.title())
        fields.setdefault("contact_email", f"ops@{slug}.example")
        return tenant_create(actor=SYSTEM, slug=slug, **fields)

    return make


@pytest.fixture
def make_client(db):
    def make(tenant: Tenant, *, public: bool = False, **fields) -> tuple[Client, str | None]:
        if public:
            fields.setdefault("client_type", Client.CLIENT_PUBLIC)
            fields.setdefault("grant_type", Client.GRANT_AUTHORIZATION_CODE)
            fields.setdefault("redirect_uris", [f"https://app.{tenant.slug}.example/callback"])
            fields.setdefault("allowed_scopes", ["openid", "profile", "email"])
        else:
            fields.setdefault("client_type", Client.CLIENT_CONFIDENTIAL)
            fields.setdefault("grant_type", Client.GRANT_CLIENT_CREDENTIALS)
            fields.setdefault("allowed_scopes", ["users:read"])
        fields.setdefault("name", f"{tenant.slug} {'app' if public else 'backend'}")
        return client_create(actor=SYSTEM, tenant=tenant, **fields)

    return make


@pytest.fixture
def make_purpose(db):
    def make(tenant: Tenant, slug: str = "newsletter", **fields) -> Purpose:
        fields.setdefault("name", slug.replace("-", " ").title())
        fields.setdefault("statement", f"{tenant.name} may use my data for {slug}.")
        fields.setdefault("data_categories", ["email"])
        return purpose_create(actor=SYSTEM, tenant=tenant, slug=slug, **fields)

    return make


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, **fields) -> User:
        if email is None and "phone_number" not in fields:
            email = f"user{next(counter)}@example.org"
        return user_register(actor=SYSTEM, email=email, **fields)

    return make


@dataclass
class TenantWorld:
    tenant: Tenant
    backend: Client
    backend_secret: str
    app: Client
    newsletter: Purpose
    postal: Purpose


@dataclass
class World:
    acme: TenantWorld
    bolt: TenantWorld
    alice: User
    bob: User
    carol: User
    staff: User


@pytest.fixture
def world(make_tenant, make_client, make_purpose, make_user) -> World:
    def tenant_world(slug: str) -> TenantWorld:
        tenant = make_tenant(slug, config={"allowed_scopes": ["openid", "profile", "email", "address"]})
        backend, secret = make_client(tenant)
        app, _ = make_client(tenant, public=True)
        newsletter = make_purpose(tenant, "newsletter", data_categories=["email"])
        postal = make_purpose(tenant, "postal-marketing", data_categories=["profile", "address"])
        return TenantWorld(tenant, backend, secret, app, newsletter, postal)

    acme, bolt = tenant_world("acme"), tenant_world("bolt")
    alice = make_user("alice@example.org", given_name="Alice", family_name="Archer", address_country="DE")
    bob = make_user("bob@example.org", given_name="Bob", family_name="Baker", address_country="AT")
    carol = make_user("carol@example.org", given_name="Carol", family_name="Cooper")
    staff = User.objects.create_superuser("staff@harbourmaster.example", "correct horse battery staple")
    consent_grant(actor=SYSTEM, user=alice, purpose=acme.newsletter, channel=Channel.WEB)
    consent_grant(actor=SYSTEM, user=bob, purpose=bolt.postal, channel=Channel.API, client=bolt.backend)
    return World(acme, bolt, alice, bob, carol, staff)
