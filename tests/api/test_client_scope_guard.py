"""Decision 7: a tenant admin hands out only scopes it holds itself. Whoever holds a client's
secret holds the client's scopes, so a client holding scopes the caller lacks can be read,
but not changed, rotated, disabled, enabled, deleted or have its secrets revoked."""

import pytest

from harbourmaster.actors import Actor
from tenants.models import Client, ClientSecret
from tenants.services import client_create, client_update
from tests.api.conftest import assert_problem
from tests.token_requests import token_status

SYSTEM = Actor.system("tests")


def _admin_client(tenant, name="config bot", scopes=("tenant:admin",)) -> Client:
    client, _ = client_create(
        actor=SYSTEM,
        tenant=tenant,
        name=name,
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes=list(scopes),
    )
    return client


@pytest.fixture
def platform(make_tenant):
    """The operators' tenant: a staff-made platform:admin client and a tenant:admin one beside it."""
    tenant = make_tenant("platform")
    ops, ops_secret = client_create(
        actor=SYSTEM,
        tenant=tenant,
        name="ops",
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes=["platform:admin"],
    )
    return ops, ops_secret, _admin_client(tenant, name="helpdesk admin")


@pytest.fixture
def config_bot(world, api_as):
    """A client of acme holding only tenant:admin, beside a backend holding users:read users:write."""
    client_update(actor=SYSTEM, client=world.acme.backend, changes={"allowed_scopes": ["users:read", "users:write"]})
    return api_as(_admin_client(world.acme.tenant), ["tenant:admin"])


def _secrets_of(client: Client) -> list[tuple]:
    return list(ClientSecret.all_tenants.filter(client=client).values_list("pk", "expires_at", "revoked_at"))


def test_a_tenant_admin_cannot_rotate_a_platform_admin_clients_secret(platform, api_as):
    ops, ops_secret, helper = platform
    before = _secrets_of(ops)
    answer = api_as(helper, ["tenant:admin"]).post(f"/api/v1/clients/{ops.client_id}/rotate", {}, format="json")
    body = assert_problem(answer, 403)
    assert "client_secret" not in body and "platform:admin" in body["detail"]
    assert body["type"] == "urn:harbourmaster:problem:client-beyond-your-scopes"
    assert _secrets_of(ops) == before
    assert token_status(ops, ops_secret) == 200


def test_a_tenant_admin_cannot_rotate_a_siblings_secret_that_holds_scopes_it_lacks(world, config_bot, api_as):
    backend = world.acme.backend
    before = _secrets_of(backend)
    body = assert_problem(config_bot.post(f"/api/v1/clients/{backend.client_id}/rotate", {}, format="json"), 403)
    assert "client_secret" not in body and "users:read, users:write" in body["detail"]
    assert _secrets_of(backend) == before
    assert token_status(backend, world.acme.backend_secret) == 200
    # It can still see the client: listing and reading are not giving anything out.
    assert backend.client_id in {client["client_id"] for client in config_bot.get("/api/v1/clients").json()["results"]}
    assert config_bot.get(f"/api/v1/clients/{backend.client_id}").json()["allowed_scopes"] == [
        "users:read",
        "users:write",
    ]
    # A caller holding the client's scopes may rotate it.
    full_admin = api_as(world.acme.app, ["tenant:admin", "users:read", "users:write"])
    rotated = full_admin.post(f"/api/v1/clients/{backend.client_id}/rotate", {}, format="json")
    assert rotated.status_code == 201, rotated.content
    assert token_status(backend, rotated.json()["client_secret"]) == 200


def test_the_guard_weighs_api_scopes_not_sign_in_scopes(world, config_bot):
    """An app asking users for openid/profile/email is any tenant admin's to manage; the backend
    holding users:write is not."""
    app, backend = world.acme.app, world.acme.backend
    assert set(app.allowed_scopes) <= {"openid", "profile", "email"}
    assert config_bot.patch(f"/api/v1/clients/{app.client_id}", {"name": "Web"}, format="json").status_code == 200
    assert_problem(config_bot.patch(f"/api/v1/clients/{backend.client_id}", {"name": "Back"}, format="json"), 403)
    assert (Client.objects.get(pk=app.pk).name, Client.objects.get(pk=backend.pk).name) == ("Web", backend.name)


def test_another_tenants_client_is_still_404_like_a_missing_one_not_403(world, api_as):
    """The guard comes after the lookup inside the tenant: a foreign client beyond the caller's
    scopes answers like a missing one, and one of its own tenant answers 403."""
    client_update(actor=SYSTEM, client=world.bolt.backend, changes={"allowed_scopes": ["users:write"]})
    client_update(actor=SYSTEM, client=world.acme.backend, changes={"allowed_scopes": ["users:write"]})
    config_bot = api_as(_admin_client(world.acme.tenant), ["tenant:admin"])
    foreign = config_bot.post(f"/api/v1/clients/{world.bolt.backend.client_id}/rotate", {}, format="json")
    missing = config_bot.post("/api/v1/clients/no-such-client/rotate", {}, format="json")
    assert_problem(foreign, 404)
    assert foreign.json() == missing.json()
    assert_problem(config_bot.post(f"/api/v1/clients/{world.acme.backend.client_id}/rotate", {}, format="json"), 403)


@pytest.mark.parametrize(
    "verb, path, body",
    [
        ("patch", "", {"name": "renamed"}),
        ("patch", "", {"allowed_scopes": ["tenant:admin"]}),
        ("post", "/disable", None),
        ("delete", "", None),
    ],
)
def test_a_tenant_admin_cannot_change_a_client_that_holds_scopes_it_lacks(world, config_bot, verb, path, body):
    backend = world.acme.backend
    before = Client.objects.filter(pk=backend.pk).values().get()
    answer = getattr(config_bot, verb)(f"/api/v1/clients/{backend.client_id}{path}", body, format="json")
    assert_problem(answer, 403)
    assert Client.objects.filter(pk=backend.pk).values().get() == before
    assert token_status(backend, world.acme.backend_secret) == 200


def test_a_tenant_admin_cannot_enable_a_client_that_holds_scopes_it_lacks(world, config_bot, api_as):
    backend, scopes = world.acme.backend, ["tenant:admin", "users:read", "users:write"]
    full_admin = api_as(_admin_client(world.acme.tenant, name="full admin", scopes=scopes), scopes)
    assert full_admin.post(f"/api/v1/clients/{backend.client_id}/disable").status_code == 200
    assert_problem(config_bot.post(f"/api/v1/clients/{backend.client_id}/enable"), 403)
    assert Client.objects.get(pk=backend.pk).disabled_at is not None
    assert full_admin.post(f"/api/v1/clients/{backend.client_id}/enable").json()["disabled_at"] is None


def test_a_tenant_admin_cannot_revoke_the_secret_of_a_client_that_holds_scopes_it_lacks(world, config_bot):
    backend = world.acme.backend
    secret = ClientSecret.all_tenants.get(client=backend)
    assert_problem(config_bot.delete(f"/api/v1/clients/{backend.client_id}/secrets/{secret.pk}"), 403)
    assert ClientSecret.all_tenants.get(pk=secret.pk).revoked_at is None
    assert token_status(backend, world.acme.backend_secret) == 200
