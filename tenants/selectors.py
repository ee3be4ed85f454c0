import hmac
from typing import Any

from django.core.cache import cache

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


def client_secret_verify(*, client: Client, provided: str) -> bool:
    """Whether ``provided`` is one of the client's active secrets (constant-time compare)."""
    if not provided or client.is_disabled:
        return False
    candidate = secret_hash(provided)
    stored = ClientSecret.all_tenants.filter(client=client).active().values_list("secret_hash", flat=True)
    return any(hmac.compare_digest(candidate, known) for known in stored)


def client_active_secrets(*, client: Client) -> list[ClientSecret]:
    return list(ClientSecret.all_tenants.filter(client=client).active().order_by("-id"))
