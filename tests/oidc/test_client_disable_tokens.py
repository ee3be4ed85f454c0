"""Disabling a client kills its tokens for good: enabling it again brings none of them back,
at the hub's API, introspection and userinfo, nor at a resource server that reads
/o/revoked-tokens/ (decision 27). That holds too for a token whose transaction commits after
the disable deleted the others: the token endpoint authenticated the client just before."""

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client as DjangoTestClient
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
from rest_framework.test import APIClient

from accounts.oidc.validators import token_family_new
from tenants.models import Client
from tenants.selectors import access_token_cache_prime, access_token_checksum
from tenants.services import client_disable, client_enable, tenant_config_update

pytestmark = pytest.mark.django_db(transaction=True)  # a disable settles when it commits

AccessToken, RefreshToken, Grant = get_access_token_model(), get_refresh_token_model(), get_grant_model()


def issued_token(client: Client, secret: str) -> str:
    body = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    response = DjangoTestClient().post("/o/token/", body)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def api_status(raw_token: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return api.get("/api/v1/purposes").status_code


def introspected(caller: Client, secret: str, raw_token: str) -> dict:
    basic = base64.b64encode(f"{caller.client_id}:{secret}".encode()).decode()
    response = DjangoTestClient().post("/o/introspect/", {"token": raw_token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return response.json()


def userinfo_status(raw_token: str) -> int:
    return DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {raw_token}").status_code


def claims_of(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def disabled_and_enabled_again(actor, client: Client) -> None:
    client_disable(actor=actor, client=client)
    client_enable(actor=actor, client=client)


@pytest.fixture
def resource_server(world, make_client):
    """Another confidential client of the tenant, to introspect with while the backend is disabled."""
    return make_client(world.acme.tenant)


@pytest.fixture
def jwt_tenant(world, actor):
    tenant_config_update(actor=actor, tenant=world.acme.tenant, config={"access_token_format": "jwt"}, partial=True)
    return world.acme


def next_second() -> None:
    time.sleep(1.05 - time.time() % 1)


def test_an_opaque_token_killed_by_a_disable_stays_dead_when_the_client_is_enabled_again(world, actor, resource_server):
    raw = issued_token(world.acme.backend, world.acme.backend_secret)  # cached as it is issued
    assert api_status(raw) == 200
    assert introspected(*resource_server, raw)["active"] is True

    disabled_and_enabled_again(actor, world.acme.backend)

    assert api_status(raw) == 401
    assert introspected(*resource_server, raw) == {"active": False}


def test_a_jwt_issued_before_a_disable_stays_dead_at_the_hub_when_the_client_is_enabled_again(
    jwt_tenant, actor, resource_server
):
    raw = issued_token(jwt_tenant.backend, jwt_tenant.backend_secret)
    assert api_status(raw) == 200

    disabled_and_enabled_again(actor, jwt_tenant.backend)

    assert api_status(raw) == 401
    assert introspected(*resource_server, raw) == {"active": False}
    # The client is usable again: its new tokens work (from the second after the disable).
    next_second()
    fresh = issued_token(jwt_tenant.backend, jwt_tenant.backend_secret)
    assert api_status(fresh) == 200
    assert introspected(*resource_server, fresh)["active"] is True


def test_the_revocation_list_keeps_a_client_enabled_again_with_the_moment_of_its_disable(jwt_tenant, actor, client):
    """A resource server that follows the list refuses the tokens from before the disable,
    and accepts those issued after it."""
    before = claims_of(issued_token(jwt_tenant.backend, jwt_tenant.backend_secret))

    disabled_and_enabled_again(actor, jwt_tenant.backend)
    next_second()
    after = claims_of(issued_token(jwt_tenant.backend, jwt_tenant.backend_secret))

    listed = client.get("/o/revoked-tokens/").json()
    digest = sha256(jwt_tenant.backend.client_id)
    assert digest not in listed["revoked_client_sha256"]  # enabled: not every token is dead
    (entry,) = [entry for entry in listed["revoked_clients"] if entry["client_sha256"] == digest]
    assert entry["exp"] == entry["revoked_before"] + 3600
    assert before["iat"] <= entry["revoked_before"] < after["iat"]
    assert jwt_tenant.backend.client_id not in str(listed)


class CommittedLate:
    """A request that authenticated the client before the disable committed: what it writes
    (``write``, returning its raw token) is in a transaction of its own that commits only
    after the disable's deletion; ``then`` runs after that commit."""

    def __init__(self, write: Callable[[], str], then: Callable[[str], None] = lambda raw: None):
        self.write, self.then = write, then
        self.written, self.commit = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.written.wait(10)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.raw = self.write()
                self.written.set()
                self.commit.wait(10)
            self.then(self.raw)
        finally:
            connection.close()

    def committed(self) -> str:
        self.commit.set()
        self.thread.join(10)
        return self.raw


def access_token_write(**fields) -> str:
    raw = secrets.token_urlsafe(32)
    AccessToken.objects.create(token=raw, expires=timezone.now() + timedelta(hours=1), **fields)
    return raw


def access_token_cached(raw: str) -> None:
    """As the token endpoint caches a client's token once it commits."""
    token = AccessToken.objects.select_related("application").get(token_checksum=access_token_checksum(raw))
    access_token_cache_prime(access_token=token, client_id=token.application.client_id)


def token_committed_late(**fields) -> CommittedLate:
    return CommittedLate(lambda: access_token_write(**fields), then=access_token_cached)


def test_a_token_committed_after_the_disable_deleted_the_others_stays_dead_when_the_client_is_enabled_again(
    world, actor, resource_server
):
    late = token_committed_late(application=world.acme.backend, user=None, scope="users:read")
    client_disable(actor=actor, client=world.acme.backend)
    raw = late.committed()
    assert AccessToken.objects.filter(token_checksum=access_token_checksum(raw)).exists()  # survived the deletion

    client_enable(actor=actor, client=world.acme.backend)

    assert api_status(raw) == 401
    assert introspected(*resource_server, raw) == {"active": False}


def test_a_token_issued_while_the_disable_was_committing_stays_dead_when_the_client_is_enabled_again(
    world, actor, resource_server
):
    """Issued after the disable began but before it committed (the token endpoint still saw
    the client usable): only the moment the disable committed covers it."""
    with transaction.atomic():  # the disable's request, still running
        client_disable(actor=actor, client=world.acme.backend)
        next_second()
        late = token_committed_late(application=world.acme.backend, user=None, scope="users:read")
    raw = late.committed()

    client_enable(actor=actor, client=world.acme.backend)

    assert api_status(raw) == 401
    assert introspected(*resource_server, raw) == {"active": False}


def test_a_sign_in_token_committed_after_the_disable_is_refused_at_userinfo_when_the_client_is_enabled_again(
    world, actor
):
    fields = {"application": world.acme.app, "user": world.alice, "scope": "openid profile email"}
    assert userinfo_status(token_committed_late(**fields).committed()) == 200
    late = token_committed_late(**fields)
    client_disable(actor=actor, client=world.acme.app)
    raw = late.committed()

    client_enable(actor=actor, client=world.acme.app)

    assert userinfo_status(raw) == 401


def refresh_token_write(app: Client, user) -> str:
    """A refresh token with its access token, as a code exchange writes them."""
    raw = "late-refresh-" + secrets.token_urlsafe(16)
    access = AccessToken.objects.get(
        token_checksum=access_token_checksum(
            access_token_write(application=app, user=user, scope="openid profile email")
        )
    )
    RefreshToken.objects.create(
        user=user, application=app, token=raw, access_token=access, token_family=token_family_new()
    )
    return raw


def refreshed(app: Client, raw: str):
    body = {"grant_type": "refresh_token", "refresh_token": raw, "client_id": app.client_id}
    return DjangoTestClient().post("/o/token/", body)


def test_a_refresh_token_committed_after_the_disable_buys_nothing_when_the_client_is_enabled_again(world, actor):
    app = world.acme.app
    assert refreshed(app, CommittedLate(lambda: refresh_token_write(app, world.alice)).committed()).status_code == 200
    late = CommittedLate(lambda: refresh_token_write(app, world.alice))
    client_disable(actor=actor, client=app)
    raw = late.committed()

    client_enable(actor=actor, client=app)

    response = refreshed(app, raw)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"


def code_write(app: Client, user, verifier: str) -> str:
    """An authorization code with its PKCE challenge, as a sign-in writes it."""
    code = secrets.token_urlsafe(24)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    Grant.objects.create(
        application=app,
        user=user,
        code=code,
        expires=timezone.now() + timedelta(seconds=60),
        redirect_uri=app.redirect_uris.split()[0],
        scope="profile email",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    return code


def exchanged(app: Client, code: str, verifier: str):
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": app.redirect_uris.split()[0],
        "client_id": app.client_id,
    }
    return DjangoTestClient().post("/o/token/", body)


def test_a_code_committed_after_the_disable_buys_nothing_when_the_client_is_enabled_again(world, actor):
    app, verifier = world.acme.app, secrets.token_urlsafe(48)
    assert (
        exchanged(app, CommittedLate(lambda: code_write(app, world.alice, verifier)).committed(), verifier).status_code
        == 200
    )
    late = CommittedLate(lambda: code_write(app, world.alice, verifier))
    client_disable(actor=actor, client=app)
    code = late.committed()

    client_enable(actor=actor, client=app)

    response = exchanged(app, code, verifier)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"
