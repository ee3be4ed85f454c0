from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from harbourmaster.actors import Actor
from tenants.config import config_validate, effective_config
from tenants.credentials import secret_display_prefix, secret_generate, secret_hash
from tenants.models import LOOPBACK_HOSTS, Client, ClientSecret, Tenant, TenantConfigRevision
from tenants.scopes import API_SCOPES, PLATFORM_SCOPE
from tenants.selectors import (
    access_token_cache_forget_checksums,
    client_cache_forget,
    clients_by_allowed_origin_forget,
    tenant_clients_cache_forget,
    tenant_config_cache_key,
)


class ConfigVersionConflict(Exception):
    """The config changed since the caller read it (optimistic concurrency)."""

    def __init__(self, current_version: int):
        self.current_version = current_version
        super().__init__(f"the config is at version {current_version}; read it again and reapply your change")


def _forget_config(tenant_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(tenant_config_cache_key(tenant_id)))
    # Each cached client carries its tenant's status and config (tenants.selectors).
    tenant_clients_cache_forget(tenant_id=tenant_id)


def _forget_client(client: Client) -> None:
    client_cache_forget(client_ids=[client.client_id])


@transaction.atomic
def tenant_create(
    *, actor: Actor, slug: str, name: str, contact_email: str, config: dict[str, Any] | None = None
) -> Tenant:
    config = config_validate({} if config is None else config)
    tenant = Tenant(slug=slug, name=name, contact_email=contact_email, config=config)
    tenant.full_clean()
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError:
        # A create of the same slug committed after full_clean looked (the unique index made us wait).
        if Tenant.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": "A tenant with this slug already exists."}) from None
        raise
    TenantConfigRevision.objects.create(tenant=tenant, version=1, config=config, actor=str(actor))
    return tenant


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


@transaction.atomic
def tenant_config_update(
    *,
    actor: Actor,
    tenant: Tenant,
    config: dict[str, Any],
    expected_version: int | None = None,
    partial: bool = False,
) -> Tenant:
    """Replace (or merge-patch, with ``partial``) the tenant's config.

    With ``expected_version`` the write happens only if nobody changed the config since
    the caller read that version; otherwise ConfigVersionConflict, and nothing changes.
    """
    current = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if expected_version is not None and expected_version != current.config_version:
        raise ConfigVersionConflict(current.config_version)
    new_config = _merge_patch(current.config, config) if partial else config
    new_config = config_validate(new_config, stored=current.config)
    Tenant.objects.filter(pk=tenant.pk).update(
        config=new_config, config_version=F("config_version") + 1, updated_at=timezone.now()
    )
    tenant.refresh_from_db(fields=["config", "config_version", "updated_at"])
    TenantConfigRevision.objects.create(
        tenant=tenant, version=tenant.config_version, config=new_config, actor=str(actor)
    )
    _forget_config(tenant.pk)
    return tenant


@transaction.atomic
def tenant_update(*, actor: Actor, tenant: Tenant, name: str | None = None, contact_email: str | None = None) -> Tenant:
    if name is not None:
        tenant.name = name
    if contact_email is not None:
        tenant.contact_email = contact_email
    tenant.full_clean()
    tenant.save(update_fields=["name", "contact_email", "updated_at"])
    tenant_clients_cache_forget(tenant_id=tenant.pk)
    return tenant


class TenantDeleted(Exception):
    """A deleted tenant stays deleted."""


def _tenant_set_status(tenant: Tenant, status: str) -> Tenant:
    # The row as it is now, locked: the caller's copy may predate someone else's delete.
    stored = Tenant.objects.select_for_update().only("status").get(pk=tenant.pk).status
    if stored == Tenant.Status.DELETED:
        raise TenantDeleted(f"tenant {tenant.slug} is deleted")
    tenant.status = status
    tenant.save(update_fields=["status", "updated_at"])
    _forget_config(tenant.pk)
    return tenant


@transaction.atomic
def tenant_suspend(*, actor: Actor, tenant: Tenant) -> Tenant:
    return _tenant_set_status(tenant, Tenant.Status.SUSPENDED)


@transaction.atomic
def tenant_delete(*, actor: Actor, tenant: Tenant) -> Tenant:
    """Offboard a tenant: its clients are disabled (their tokens die), its consents stop
    counting, and it can never be reactivated. Its records stay, as proof."""
    _tenant_set_status(tenant, Tenant.Status.DELETED)
    for client in Client.objects.filter(tenant=tenant):
        client_disable(actor=actor, client=client)
    return tenant


@transaction.atomic
def tenant_activate(*, actor: Actor, tenant: Tenant) -> Tenant:
    return _tenant_set_status(tenant, Tenant.Status.ACTIVE)


# --- Clients and their secrets ----------------------------------------------------------

ALLOWED_GRANTS = {
    Client.CLIENT_CONFIDENTIAL: {Client.GRANT_CLIENT_CREDENTIALS, Client.GRANT_AUTHORIZATION_CODE},
    Client.CLIENT_PUBLIC: {Client.GRANT_AUTHORIZATION_CODE},
}


def _validate_client_shape(
    *, actor: Actor, tenant: Tenant, client_type: str, grant_type: str, allowed_scopes: list[str]
) -> None:
    errors = {}
    if grant_type not in ALLOWED_GRANTS.get(client_type, set()):
        errors["authorization_grant_type"] = (
            f"a {client_type} client may use {', '.join(sorted(ALLOWED_GRANTS.get(client_type, [])))}; "
            "implicit and password grants are not offered"
        )
    if grant_type == Client.GRANT_CLIENT_CREDENTIALS:
        # Machine clients carry API scopes; only platform staff may hand out the platform scope.
        allowed = set(API_SCOPES) - ({PLATFORM_SCOPE} if actor.kind not in ("staff", "system") else set())
    else:
        allowed = set(effective_config(tenant.config)["allowed_scopes"]) | {"openid"}
    refused = sorted(set(allowed_scopes) - allowed)
    if refused:
        errors["allowed_scopes"] = f"not allowed for this client: {', '.join(refused)}"
    if errors:
        raise ValidationError(errors)


MAX_ALLOWED_ORIGINS = 20
DEFAULT_PORTS = {"https": 443, "http": 80}
ORIGIN_SHAPE = "an origin is scheme://host[:port], without path, query, fragment, credentials or trailing slash"


def allowed_origin_normalize(value: str) -> str:
    """The origin as a browser sends it in ``Origin``: lowercase, without its scheme's default port.

    https; http only for a loopback host where redirect URIs may be http (development,
    as for back-channel logout URIs, decision 19). The host as the browser writes it:
    an international name in its ASCII (punycode) form, which is what ``Origin`` holds.
    """
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValidationError(f"{value}: not an origin", code="invalid") from None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if parts.path or "?" in value or "#" in value or "@" in parts.netloc or not host:
        raise ValidationError(f"{value}: {ORIGIN_SHAPE}", code="invalid")
    development_loopback = "http" in oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES and host in LOOPBACK_HOSTS
    if scheme != "https" and not (scheme == "http" and development_loopback):
        raise ValidationError(f"{value}: must be https (http only for localhost in development)", code="scheme")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    origin = f"{scheme}://{netloc}"
    try:
        URLValidator(schemes=list(DEFAULT_PORTS))(origin)
    except ValidationError:
        raise ValidationError(f"{value}: not an origin", code="invalid") from None
    if not origin.isascii():
        raise ValidationError(f"{value}: write the host as browsers send it (punycode)", code="invalid")
    return origin


def _allowed_origins_stored(origins: list[str], *, grant_type: str) -> str:
    """The origins in django-oauth-toolkit's column (space-separated), so its ``origin_allowed``
    reads them too; ValidationError on ``allowed_origins`` for anything else."""
    if origins and grant_type != Client.GRANT_AUTHORIZATION_CODE:
        raise ValidationError(
            {"allowed_origins": "only a client that signs users in (authorization-code) is called from browsers"}
        )
    if len(origins) > MAX_ALLOWED_ORIGINS:
        raise ValidationError({"allowed_origins": f"at most {MAX_ALLOWED_ORIGINS} origins"})
    normalized, problems = [], []
    for value in origins:
        try:
            origin = allowed_origin_normalize(value)
        except ValidationError as error:
            problems.extend(error.messages)
            continue
        if origin in normalized:
            problems.append(f"{value}: listed twice")
        normalized.append(origin)
    if problems:
        raise ValidationError({"allowed_origins": problems})
    return " ".join(normalized)


def _secret_issue(*, actor: Actor, client: Client, expires_at: datetime | None = None) -> str:
    secret = secret_generate()
    ClientSecret.all_tenants.create(
        client=client,
        secret_hash=secret_hash(secret),
        prefix=secret_display_prefix(secret),
        created_by=str(actor),
        expires_at=expires_at,
    )
    return secret


@transaction.atomic
def client_create(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str,
    client_type: str,
    grant_type: str,
    redirect_uris: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    allowed_scopes: list[str] | None = None,
    first_party: bool = True,
    backchannel_logout_uri: str = "",
    backchannel_logout_session_required: bool = False,
    allowed_origins: list[str] | None = None,
) -> tuple[Client, str | None]:
    """Create a client; returns it with its first secret (None for a public client).

    The secret is returned exactly once: only its hash is stored.
    """
    allowed_scopes = list(allowed_scopes or [])
    _validate_client_shape(
        actor=actor, tenant=tenant, client_type=client_type, grant_type=grant_type, allowed_scopes=allowed_scopes
    )
    origins = _allowed_origins_stored(list(allowed_origins or []), grant_type=grant_type)
    client = Client(
        tenant=tenant,
        name=name,
        client_type=client_type,
        authorization_grant_type=grant_type,
        redirect_uris=" ".join(redirect_uris or []),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris or []),
        allowed_scopes=allowed_scopes,
        skip_authorization=first_party,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        allowed_origins=origins,
        client_secret="",
        hash_client_secret=False,
        algorithm=Client.RS256_ALGORITHM if grant_type == Client.GRANT_AUTHORIZATION_CODE else Client.NO_ALGORITHM,
    )
    client.full_clean(exclude=["client_secret", "user"])
    client.save()
    if origins:
        clients_by_allowed_origin_forget()
    secret = _secret_issue(actor=actor, client=client) if client_type == Client.CLIENT_CONFIDENTIAL else None
    return client, secret


BACKCHANNEL_LOGOUT_FIELDS = ("backchannel_logout_uri", "backchannel_logout_session_required")
CLIENT_UPDATABLE = {
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_scopes",
    "allowed_origins",
    "first_party",
    *BACKCHANNEL_LOGOUT_FIELDS,
}


@transaction.atomic
def client_update(*, actor: Actor, client: Client, changes: dict[str, Any]) -> Client:
    unknown = sorted(set(changes) - CLIENT_UPDATABLE)
    if unknown:
        raise ValidationError({name: "cannot be changed" for name in unknown})
    if "allowed_scopes" in changes:
        _validate_client_shape(
            actor=actor,
            tenant=client.tenant,
            client_type=client.client_type,
            grant_type=client.authorization_grant_type,
            allowed_scopes=changes["allowed_scopes"],
        )
        client.allowed_scopes = list(changes["allowed_scopes"])
    if "allowed_origins" in changes:
        grant_type = client.authorization_grant_type
        client.allowed_origins = _allowed_origins_stored(list(changes["allowed_origins"]), grant_type=grant_type)
    for name in ("redirect_uris", "post_logout_redirect_uris"):
        if name in changes:
            setattr(client, name, " ".join(changes[name]))
    for name in ("name", *BACKCHANNEL_LOGOUT_FIELDS):
        if name in changes:
            setattr(client, name, changes[name])
    if "first_party" in changes:
        client.skip_authorization = changes["first_party"]
    client.full_clean(exclude=["client_secret", "user"])
    client.save()
    _forget_client(client)
    if "allowed_origins" in changes:
        clients_by_allowed_origin_forget()
    return client


class ClientInUse(Exception):
    """The client is named by records (consents, access audit) and cannot be deleted: disable it."""


@transaction.atomic
def client_delete(*, actor: Actor, client: Client) -> None:
    """Delete a client that nothing records; one that records name can only be disabled."""
    _client_tokens_end(client)
    _forget_client(client)
    try:
        with transaction.atomic():
            client.delete()
    except ProtectedError:
        raise ClientInUse(f"client {client.client_id} is named in records; disable it instead") from None
    if client.allowed_origins:
        clients_by_allowed_origin_forget()


def _require_confidential(client: Client) -> None:
    if client.client_type != Client.CLIENT_CONFIDENTIAL:
        raise ValidationError({"client_type": "a public client has no secret"})


@transaction.atomic
def client_secret_rotate(*, actor: Actor, client: Client, overlap_until: datetime | None = None) -> str:
    """Issue a new secret; the current ones keep working until ``overlap_until`` (now if None)."""
    _require_confidential(client)
    now = timezone.now()
    overlap_until = overlap_until or now
    if overlap_until < now:
        raise ValidationError({"overlap_until": "must not be in the past"})
    old = ClientSecret.all_tenants.select_for_update().filter(client=client).active()
    old.filter(expires_at__isnull=True).update(expires_at=overlap_until)
    old.filter(expires_at__gt=overlap_until).update(expires_at=overlap_until)
    _forget_client(client)
    return _secret_issue(actor=actor, client=client)


@transaction.atomic
def client_secret_revoke(*, actor: Actor, secret: ClientSecret) -> ClientSecret:
    if secret.revoked_at is None:
        secret.revoked_at = timezone.now()
        secret.save(update_fields=["revoked_at"])
    client_cache_forget(client_ids=[Client.objects.values_list("client_id", flat=True).get(pk=secret.client_id)])
    return secret


@transaction.atomic
def client_disable(*, actor: Actor, client: Client) -> Client:
    """Disable at once: the client can no longer authenticate, and its tokens die with it,
    for good: every token issued up to the disable stays dead when the client is enabled
    again (``Client.tokens_revoked_before``, which the hub's checks and the revocation list
    read; decision 27)."""
    now = timezone.now()
    if client.disabled_at is None:
        client.disabled_at = now
    client.tokens_revoked_before = max(now, client.tokens_revoked_before or now)
    client.save(update_fields=["disabled_at", "tokens_revoked_before", "updated"])
    _client_tokens_end(client)
    _forget_client(client)
    transaction.on_commit(lambda: _client_disable_settle(client), robust=True)
    return client


@transaction.atomic
def client_enable(*, actor: Actor, client: Client) -> Client:
    """Tokens issued up to the last disable stay dead: ``tokens_revoked_before`` is kept."""
    if client.disabled_at is not None:
        client.disabled_at = None
        client.save(update_fields=["disabled_at", "updated"])
    _forget_client(client)
    return client


_BURIED_PER_ROUND_TRIP = 1000  # a busy machine client can hold many thousands of live tokens


def _client_tokens_end(client: Client, *, issued_up_to: datetime | None = None) -> None:
    """End the client's tokens (those written up to ``issued_up_to``, if given) and bury the
    cache entries of its access tokens: an entry outlives its row for minutes, and would
    serve the token again once the client is enabled."""
    access_tokens = get_access_token_model().objects.filter(application=client)
    refresh_tokens = get_refresh_token_model().objects.filter(application=client, revoked__isnull=True)
    grants = get_grant_model().objects.filter(application=client)
    if issued_up_to is not None:
        access_tokens = access_tokens.filter(created__lte=issued_up_to)
        refresh_tokens = refresh_tokens.filter(created__lte=issued_up_to)
        grants = grants.filter(created__lte=issued_up_to)
    checksums = list(access_tokens.values_list("token_checksum", flat=True))
    refresh_tokens.update(revoked=timezone.now())
    access_tokens.delete()
    grants.delete()
    for start in range(0, len(checksums), _BURIED_PER_ROUND_TRIP):
        access_token_cache_forget_checksums(checksums=checksums[start : start + _BURIED_PER_ROUND_TRIP])


def _client_disable_settle(client: Client) -> None:
    """After a disable commits. A token request that authenticated the client before that
    may write its token after the deletion (its own transaction commits later); from now
    on none can. So the revocation moves to now, and what was written meanwhile ends."""
    moment = timezone.now()
    with transaction.atomic():
        Client.objects.filter(pk=client.pk, tokens_revoked_before__lt=moment).update(tokens_revoked_before=moment)
        client.tokens_revoked_before = moment
        _client_tokens_end(client, issued_up_to=moment)
        _forget_client(client)


ADMIN_CLIENT_SCOPES = sorted(set(API_SCOPES) - {PLATFORM_SCOPE})


@transaction.atomic
def tenant_onboard(
    *, actor: Actor, slug: str, name: str, contact_email: str, config: dict[str, Any] | None = None
) -> tuple[Tenant, Client, str]:
    """Create a tenant and its first admin client in one step; the secret is returned once."""
    tenant = tenant_create(actor=actor, slug=slug, name=name, contact_email=contact_email, config=config)
    client, secret = client_create(
        actor=actor,
        tenant=tenant,
        name=f"{name} admin",
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes=ADMIN_CLIENT_SCOPES,
    )
    return tenant, client, secret
