import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from harbourmaster.actors import Actor
from tenants import selectors
from tenants.config import TenantConfigInvalid
from tenants.credentials import secret_hash
from tenants.models import Client, ClientSecret, Tenant, TenantConfigRevision
from tenants.selectors import (
    CachedClient,
    client_active_secrets,
    client_cache_key,
    client_cached,
    tenant_effective_config,
)
from tenants.services import (
    ConfigVersionConflict,
    client_create,
    client_disable,
    client_enable,
    client_secret_revoke,
    client_secret_rotate,
    tenant_activate,
    tenant_config_update,
    tenant_create,
    tenant_suspend,
)

STAFF = Actor("staff", "00000000-0000-0000-0000-000000000001")


def secret_works(client: Client, secret: str) -> bool:
    """Whether the token endpoint would take ``secret``: it asks the cached client
    (accounts.oidc.validators.authenticate_client), so a change must reach the cache."""
    found = client_cached(client_id=client.client_id)
    return found is not None and found.secret_matches(secret)


def test_tenant_create_stores_config_and_first_revision(db):
    tenant = tenant_create(
        actor=STAFF, slug="acme", name="Acme", contact_email="ops@acme.example", config={"otp": {"length": 8}}
    )
    assert tenant.config == {"otp": {"length": 8}}
    revision = TenantConfigRevision.objects.get(tenant=tenant)
    assert (revision.version, revision.config, revision.actor) == (1, {"otp": {"length": 8}}, str(STAFF))


def test_tenant_create_refuses_bad_config_and_writes_nothing(db):
    with pytest.raises(TenantConfigInvalid) as raised:
        tenant_create(
            actor=STAFF, slug="acme", name="Acme", contact_email="ops@acme.example", config={"otp": {"length": 1}}
        )
    assert raised.value.errors[0].path == "/otp/length"
    assert not Tenant.objects.exists()
    assert not TenantConfigRevision.objects.exists()


def test_tenant_slug_is_unique(make_tenant):
    make_tenant("acme")
    with pytest.raises(ValidationError, match="slug"):
        make_tenant("acme")


def test_config_update_replaces_bumps_version_and_keeps_history(make_tenant):
    tenant = make_tenant("acme", config={"otp": {"length": 8}})
    tenant_config_update(actor=STAFF, tenant=tenant, config={"subject_type": "pairwise"}, expected_version=1)
    assert tenant.config == {"subject_type": "pairwise"}
    assert tenant.config_version == 2
    history = list(
        TenantConfigRevision.objects.filter(tenant=tenant).order_by("version").values_list("version", "config")
    )
    assert history == [(1, {"otp": {"length": 8}}), (2, {"subject_type": "pairwise"})]


def test_partial_config_update_merges_and_null_removes(make_tenant):
    tenant = make_tenant("acme", config={"otp": {"length": 8, "ttl_seconds": 300}, "subject_type": "pairwise"})
    tenant_config_update(actor=STAFF, tenant=tenant, config={"otp": {"length": 6}, "subject_type": None}, partial=True)
    assert tenant.config == {"otp": {"length": 6, "ttl_seconds": 300}}


def test_stale_config_update_is_refused_and_changes_nothing(make_tenant):
    tenant = make_tenant("acme")
    tenant_config_update(actor=STAFF, tenant=tenant, config={"otp": {"length": 8}}, expected_version=1)
    with pytest.raises(ConfigVersionConflict) as raised:
        tenant_config_update(actor=STAFF, tenant=tenant, config={"otp": {"length": 4}}, expected_version=1)
    assert raised.value.current_version == 2
    tenant.refresh_from_db()
    assert tenant.config == {"otp": {"length": 8}}
    assert TenantConfigRevision.objects.filter(tenant=tenant).count() == 2


def test_bad_config_update_changes_nothing(make_tenant):
    tenant = make_tenant("acme", config={"otp": {"length": 8}})
    with pytest.raises(TenantConfigInvalid):
        tenant_config_update(actor=STAFF, tenant=tenant, config={"otp": {"length": 99}}, partial=True)
    tenant.refresh_from_db()
    assert (tenant.config, tenant.config_version) == ({"otp": {"length": 8}}, 1)


def test_config_change_is_visible_on_the_next_read(django_capture_on_commit_callbacks, make_tenant):
    tenant = make_tenant("acme", config={"otp": {"length": 8}})
    assert tenant_effective_config(tenant=tenant)["otp"]["length"] == 8
    stale_copy = Tenant.objects.get(pk=tenant.pk)
    with django_capture_on_commit_callbacks(execute=True):
        tenant_config_update(actor=STAFF, tenant=tenant, config={"otp": {"length": 5}})
    assert tenant_effective_config(tenant=stale_copy)["otp"]["length"] == 5


def test_suspend_and_activate(make_tenant):
    tenant = make_tenant("acme")
    tenant_suspend(actor=STAFF, tenant=tenant)
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.SUSPENDED
    tenant_activate(actor=STAFF, tenant=tenant)
    assert Tenant.objects.get(pk=tenant.pk).is_active


# --- Clients and secrets ---------------------------------------------------------------


def test_confidential_client_gets_a_secret_shown_once_and_stored_hashed(make_tenant, make_client):
    client, secret = make_client(make_tenant("acme"))
    assert secret.startswith("hms_") and len(secret) > 40
    stored = ClientSecret.all_tenants.get(client=client)
    assert stored.secret_hash == secret_hash(secret)
    assert secret not in (stored.secret_hash, stored.prefix, client.client_secret)
    assert stored.prefix == secret[:8]
    assert client.client_secret == ""
    assert secret_works(client, secret)
    assert not secret_works(client, secret + "x")
    assert not secret_works(client, "")


def test_public_client_has_no_secret(make_tenant, make_client):
    client, secret = make_client(make_tenant("acme"), public=True)
    assert secret is None
    assert not ClientSecret.all_tenants.filter(client=client).exists()
    with pytest.raises(ValidationError, match="public client has no secret"):
        client_secret_rotate(actor=STAFF, client=client)


@pytest.mark.parametrize(
    ("client_type", "grant_type"),
    [
        (Client.CLIENT_PUBLIC, Client.GRANT_CLIENT_CREDENTIALS),
        (Client.CLIENT_PUBLIC, Client.GRANT_IMPLICIT),
        (Client.CLIENT_CONFIDENTIAL, Client.GRANT_PASSWORD),
        (Client.CLIENT_CONFIDENTIAL, Client.GRANT_IMPLICIT),
    ],
)
def test_unsafe_grants_are_refused(make_tenant, client_type, grant_type):
    with pytest.raises(ValidationError, match="authorization_grant_type"):
        client_create(
            actor=STAFF,
            tenant=make_tenant("acme"),
            name="x",
            client_type=client_type,
            grant_type=grant_type,
            redirect_uris=["https://app.example/cb"],
        )
    assert not Client.objects.exists()


def test_app_client_scopes_must_be_allowed_by_the_tenant(make_tenant, make_client):
    tenant = make_tenant("acme", config={"allowed_scopes": ["openid", "email"]})
    with pytest.raises(ValidationError, match="address"):
        make_client(tenant, public=True, allowed_scopes=["openid", "address"])


def test_app_client_needs_a_valid_redirect_uri(make_tenant, make_client):
    with pytest.raises(ValidationError):
        make_client(make_tenant("acme"), public=True, redirect_uris=["not a uri"])
    assert not Client.objects.exists()


def test_rotation_keeps_old_secret_until_overlap_ends(make_tenant, make_client):
    client, old = make_client(make_tenant("acme"))
    assert secret_works(client, old)  # the client is now in the cache, without the new secret
    overlap_until = timezone.now() + timedelta(hours=1)
    new = client_secret_rotate(actor=STAFF, client=client, overlap_until=overlap_until)
    assert new != old
    assert secret_works(client, old)
    assert secret_works(client, new)
    assert len(client_active_secrets(client=client)) == 2
    assert ClientSecret.all_tenants.get(secret_hash=secret_hash(old)).expires_at == overlap_until


def test_old_secret_stops_working_when_overlap_has_passed(make_tenant, make_client, monkeypatch):
    client, old = make_client(make_tenant("acme"))
    new = client_secret_rotate(actor=STAFF, client=client, overlap_until=timezone.now() + timedelta(hours=1))
    cache.delete(client_cache_key(client.client_id))  # the rotation's tombstone has lapsed
    assert secret_works(client, old)
    assert isinstance(cache.get(client_cache_key(client.client_id)), CachedClient)
    # An hour on, the entry cached during the overlap no longer takes the old secret.
    later = time.time() + 3601
    monkeypatch.setattr(selectors, "time", SimpleNamespace(time=lambda: later))
    assert not secret_works(client, old)
    assert secret_works(client, new)


def test_rotation_without_overlap_retires_old_secret_at_once(make_tenant, make_client):
    client, old = make_client(make_tenant("acme"))
    assert secret_works(client, old)  # cached before the rotation
    new = client_secret_rotate(actor=STAFF, client=client)
    assert not secret_works(client, old)
    assert secret_works(client, new)


def test_rotation_overlap_cannot_be_in_the_past(make_tenant, make_client):
    client, old = make_client(make_tenant("acme"))
    with pytest.raises(ValidationError, match="overlap_until"):
        client_secret_rotate(actor=STAFF, client=client, overlap_until=timezone.now() - timedelta(minutes=1))
    assert secret_works(client, old)
    assert ClientSecret.all_tenants.filter(client=client).count() == 1


def test_revoked_secret_stops_working(make_tenant, make_client):
    client, secret = make_client(make_tenant("acme"))
    assert secret_works(client, secret)  # cached before the revocation
    client_secret_revoke(actor=STAFF, secret=ClientSecret.all_tenants.get(client=client))
    assert not secret_works(client, secret)


def test_secret_hashes_are_unique(make_tenant, make_client):
    client, secret = make_client(make_tenant("acme"))
    with pytest.raises(IntegrityError):
        ClientSecret.all_tenants.create(client=client, secret_hash=secret_hash(secret), prefix="x", created_by="t")


def test_disable_stops_authentication_and_kills_tokens(make_tenant, make_client, make_user):
    client, secret = make_client(make_tenant("acme"))
    user = make_user()
    expires = timezone.now() + timedelta(hours=1)
    access = get_access_token_model().objects.create(application=client, user=user, token="at-1", expires=expires)
    get_refresh_token_model().objects.create(application=client, user=user, token="rt-1", access_token=access)
    assert secret_works(client, secret)  # cached while still enabled

    client_disable(actor=STAFF, client=client)

    client.refresh_from_db()
    assert client.is_disabled and not client.is_usable(None)
    assert not secret_works(client, secret)
    assert not get_access_token_model().objects.filter(application=client).exists()
    assert get_refresh_token_model().objects.get(token_checksum__isnull=False, application=client).revoked is not None

    client_enable(actor=STAFF, client=client)
    client.refresh_from_db()
    assert client.is_usable(None)
    assert secret_works(client, secret)
