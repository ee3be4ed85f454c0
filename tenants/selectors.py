import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from tenants.config import effective_config
from tenants.credentials import secret_hash
from tenants.models import Client, ClientSecret, Tenant

CONFIG_CACHE_SECONDS = 300


def tenant_config_cache_key(tenant_id: int) -> str:
    return f"tenant-config:{tenant_id}"


def tenant_effective_config(*, tenant: Tenant) -> dict[str, Any]:
    """The tenant's config with defaults filled in; cached, invalidated on every write."""
    key = tenant_config_cache_key(tenant.pk)
    cached = cache.get(key)
    if cached is not None and cached["version"] >= tenant.config_version:
        return cached["config"]
    config = effective_config(Tenant.objects.values_list("config", flat=True).get(pk=tenant.pk))
    cache.set(key, {"version": tenant.config_version, "config": config}, CONFIG_CACHE_SECONDS)
    return config


def client_active_secrets(*, client: Client) -> list[ClientSecret]:
    return list(ClientSecret.all_tenants.filter(client=client).active().order_by("-id"))


# --- Client authentication and access tokens, cached --------------------------------------
# One cache round trip instead of three queries per token request (decision 13). Entries
# are never trusted past a change: the services that change a client, its secrets or its
# tenant write a tombstone over the entry, once at once and once on commit. While the
# tombstone stands, readers go to the database and may not put an entry back (``add`` is
# SET NX), so a read that began before the change cannot bring back what it removed.

CLIENT_CACHE_SECONDS = 300
ACCESS_TOKEN_CACHE_SECONDS = 300
TOMBSTONE_SECONDS = 60
TOMBSTONE = "forgotten"  # what a forgotten entry holds (readers: harbourmaster.api.throttling)


@dataclass(frozen=True, slots=True)
class CachedClient:
    """A client with its tenant loaded, its active secret hashes and its tenant's effective config."""

    client: Client
    secret_hashes: tuple[tuple[str, float | None], ...]  # (HMAC, expires_at as a timestamp)
    tenant_config: dict[str, Any]

    @property
    def usable(self) -> bool:
        return not self.client.is_disabled and self.client.tenant.is_active

    def secret_matches(self, provided: str) -> bool:
        if not provided or not self.usable:
            return False
        candidate, now = secret_hash(provided), time.time()
        live = [known for known, expires in self.secret_hashes if expires is None or expires > now]
        return any(hmac.compare_digest(candidate, known) for known in live)


@dataclass(frozen=True, slots=True)
class CachedAccessToken:
    """What never changes about an access token while it lives; only machine tokens are cached."""

    token_id: int
    client_id: str
    user_id: int | None
    scope: str
    expires: float
    issued: float
    resource: tuple[str, ...]  # its RFC 8707 resource indicators; none: any of the hub's

    @property
    def expired(self) -> bool:
        return self.expires <= time.time()

    def is_for(self, audience: str) -> bool:
        """Whether the token may be used at ``audience`` (the hub's issuer, for its own API),
        as a JWT's ``aud`` says it (accounts.oidc.jwt_tokens): a token asked for other
        resources is theirs only (RFC 8707, 2; RFC 9700, 2.3)."""
        return not self.resource or audience in self.resource


def _hashed(value: str) -> str:
    # Cache keys from what a caller sent: fixed length, no characters a backend refuses.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def client_cache_key(client_id: str) -> str:
    return f"oauth-client:{_hashed(client_id)}"


def access_token_checksum(raw_token: str) -> str:
    """How django-oauth-toolkit finds a token: the SHA-256 of its value."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def access_token_cache_key(checksum: str) -> str:
    return f"oauth-access-token:{checksum}"


def request_tenant_config(request) -> dict[str, Any]:
    """The effective config of the tenant of an OAuth request's client: as the cached client
    carries it where client authentication read one, else from the config cache."""
    # Not getattr: oauthlib's request answers a missing attribute with the request
    # parameter of that name, which a caller may post.
    cached = vars(request).get("cached_client")
    if cached is not None and cached.client.pk == request.client.pk:
        return cached.tenant_config
    return tenant_effective_config(tenant=request.client.tenant)


def client_cached(*, client_id: str) -> CachedClient | None:
    """The client named ``client_id`` as client authentication needs it, or None."""
    return client_from_cache_entry(client_id=client_id, entry=cache.get(client_cache_key(client_id)))


def client_from_cache_entry(*, client_id: str, entry: Any) -> CachedClient | None:
    """The client from what the cache held for it (a get_many's answer), else from the database."""
    if isinstance(entry, CachedClient):
        return entry
    client = Client.objects.select_related("tenant").filter(client_id=client_id).first()
    if client is None:
        return None
    secrets = ClientSecret.all_tenants.filter(client=client).active().values_list("secret_hash", "expires_at")
    loaded = CachedClient(
        client=client,
        secret_hashes=tuple((known, expires.timestamp() if expires else None) for known, expires in secrets),
        tenant_config=effective_config(client.tenant.config),
    )
    if entry is None:  # not a tombstone
        cache.add(client_cache_key(client_id), loaded, CLIENT_CACHE_SECONDS)
    return loaded


def clients_cached(*, client_ids: list[str]) -> Iterator[CachedClient]:
    """The clients named that exist, as ``client_cached`` gives each, their entries fetched in
    one round trip; a client not cached is read from the database only when the caller gets to it."""
    keys = {client_id: client_cache_key(client_id) for client_id in client_ids}
    found = cache.get_many(list(keys.values()))
    for client_id, key in keys.items():
        loaded = client_from_cache_entry(client_id=client_id, entry=found.get(key))
        if loaded is not None:
            yield loaded


def access_token_from_cache_entry(*, checksum: str, entry: Any) -> CachedAccessToken | None:
    """The token from what the cache held for it, else from the database; None if it is gone."""
    # An entry cached before tokens carried their resource unpickles without it: until it
    # expires (minutes), the database answers, and ``add`` leaves the entry alone.
    if isinstance(entry, CachedAccessToken) and hasattr(entry, "resource"):
        return entry
    row = (
        get_access_token_model()
        .objects.filter(token_checksum=checksum)
        .values_list("pk", "application__client_id", "user_id", "scope", "expires", "created", "resource")
        .first()
    )
    if row is None or row[1] is None:
        return None
    token_id, client_id, user_id, scope, expires, created, resource = row
    loaded = CachedAccessToken(
        token_id, client_id, user_id, scope, expires.timestamp(), created.timestamp(), tuple(resource or ())
    )
    lifetime = min(ACCESS_TOKEN_CACHE_SECONDS, int(loaded.expires - time.time()))
    # Sign-in tokens die in many ways (rotation, logout, a replayed code); only the
    # client's own tokens, which die by revocation or with their client, are cached.
    if entry is None and user_id is None and lifetime > 0:
        cache.add(access_token_cache_key(checksum), loaded, lifetime)
    return loaded


def access_token_cache_prime(*, access_token, client_id: str) -> None:
    """Cache a client's token as it is issued, so its first use reads no SQL either.

    Call after commit: an entry for a token whose row was rolled back would outlive it.
    """
    if access_token.user_id is not None:
        return
    entry = CachedAccessToken(
        access_token.pk,
        client_id,
        None,
        access_token.scope,
        access_token.expires.timestamp(),
        access_token.created.timestamp(),
        tuple(access_token.resource or ()),
    )
    lifetime = min(ACCESS_TOKEN_CACHE_SECONDS, int(entry.expires - time.time()))
    if lifetime > 0:
        cache.add(access_token_cache_key(access_token.token_checksum), entry, lifetime)


# Which client a token was issued to never changes, so each process remembers it: the
# token's and its client's entries can then be fetched in one round trip.
_CLIENT_OF_TOKEN: dict[str, str] = {}
_CLIENT_OF_TOKEN_LIMIT = 10_000


def client_of_token_known(checksum: str) -> str | None:
    return _CLIENT_OF_TOKEN.get(checksum)


def client_of_token_remember(checksum: str, client_id: str) -> None:
    if len(_CLIENT_OF_TOKEN) >= _CLIENT_OF_TOKEN_LIMIT:
        _CLIENT_OF_TOKEN.clear()
    _CLIENT_OF_TOKEN[checksum] = client_id


def client_id_of_access_token(checksum: str) -> str | None:
    """The client_id the token was issued to (expired or not), None if there is no such token:
    remembered by this process, else read as the token cache reads it."""
    client_id = client_of_token_known(checksum)
    if client_id is None:
        token = access_token_from_cache_entry(checksum=checksum, entry=cache.get(access_token_cache_key(checksum)))
        if token is not None:
            client_id = token.client_id
            client_of_token_remember(checksum, client_id)
    return client_id


def access_token_with_client(
    *, raw_token: str, found: dict | None = None
) -> tuple[CachedAccessToken | None, CachedClient | None]:
    """The token and the client it was issued to; one cache round trip once this process knows
    both, none if the caller already fetched their entries (``found``, a get_many's answer)."""
    checksum = access_token_checksum(raw_token)
    token_key, known = access_token_cache_key(checksum), client_of_token_known(checksum)
    if found is None:
        found = cache.get_many([token_key] + ([client_cache_key(known)] if known else []))
    token = access_token_from_cache_entry(checksum=checksum, entry=found.get(token_key))
    if token is None:
        return None, None
    client_of_token_remember(checksum, token.client_id)
    client_key = client_cache_key(token.client_id)
    entry = found[client_key] if client_key in found else cache.get(client_key)
    return token, client_from_cache_entry(client_id=token.client_id, entry=entry)


def _bury(keys: list[str]) -> None:
    if not keys:
        return
    tombstones = dict.fromkeys(keys, TOMBSTONE)

    def write() -> None:
        cache.set_many(tombstones, TOMBSTONE_SECONDS)

    write()
    transaction.on_commit(write)


# The public revocation list's clients (accounts.oidc.revocation_list), kept briefly.
REVOKED_CLIENTS_CACHE_KEY = "oauth-revoked-client-digests"


def client_cache_forget(*, client_ids: list[str]) -> None:
    """For the services that change clients, secrets or tenants: now, and again on commit."""
    _bury([client_cache_key(client_id) for client_id in client_ids])
    # A disabled client, or one of a suspended tenant, goes on the public list at once.
    cache.delete(REVOKED_CLIENTS_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(REVOKED_CLIENTS_CACHE_KEY))


def tenant_clients_cache_forget(*, tenant_id: int) -> None:
    client_cache_forget(client_ids=list(Client.objects.filter(tenant_id=tenant_id).values_list("client_id", flat=True)))


def access_token_cache_forget(*, raw_token: str) -> None:
    """For revocation: the token is looked up in the database again, and found gone."""
    access_token_cache_forget_checksums(checksums=[access_token_checksum(raw_token)])


def access_token_cache_forget_checksums(*, checksums: list[str]) -> None:
    """The same, for tokens known only by the checksum the database keeps (the admin)."""
    _bury([access_token_cache_key(checksum) for checksum in checksums])


# --- Browser origins (accounts.oidc.cors) ------------------------------------------------
# A preflight names no client, so it asks which clients list its origin: one entry for the
# whole hub answers that, and an origin no client lists costs that one read and writes
# nothing. Disabled clients and suspended tenants' are listed too: whether they count is
# read at each preflight through the client cache, so enabling one forgets nothing here.

CLIENTS_BY_ORIGIN_CACHE_KEY = "cors-clients-by-origin"
CLIENTS_BY_ORIGIN_CACHE_SECONDS = 60  # a safety net: the services that store origins forget it


def clients_by_allowed_origin() -> dict[str, list[str]]:
    """Each origin some client allows, with the client_ids listing it; one cache read."""
    index = cache.get(CLIENTS_BY_ORIGIN_CACHE_KEY)
    if index is None:
        index = {}
        rows = Client.objects.exclude(allowed_origins="").values_list("client_id", "allowed_origins")
        for client_id, origins in rows:
            for origin in origins.split():
                index.setdefault(origin, []).append(client_id)
        cache.set(CLIENTS_BY_ORIGIN_CACHE_KEY, index, CLIENTS_BY_ORIGIN_CACHE_SECONDS)
    return index


def clients_by_allowed_origin_forget() -> None:
    """For the services that store origins: a preflight from a new one finds its clients at once."""
    cache.delete(CLIENTS_BY_ORIGIN_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(CLIENTS_BY_ORIGIN_CACHE_KEY))


def client_previous_secrets_expire_at(*, client: Client) -> datetime:
    """When the first previous secret still working stops (now if none does). A rotation only
    shortens overlaps, so an earlier rotation's shorter one stands."""
    live = ClientSecret.objects.filter(client=client, revoked_at__isnull=True, expires_at__gt=timezone.now())
    return live.aggregate(first=Min("expires_at"))["first"] or timezone.now()
