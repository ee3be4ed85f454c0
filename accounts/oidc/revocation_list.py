"""Revoked JWT access tokens, by ``jti``, until they would have expired anyway.

A resource server that checks JWT access tokens on its own polls this list (served at
/o/revoked-tokens/); the hub's own API and introspection honour it too. Each entry is
kept twice in the cache: a key per ``jti`` (read by the API in the same round trip as
the client) and, with Redis, a sorted set scored by ``exp`` for the published list.
Clients that were disabled, or whose tenant was suspended or deleted, within an access
token's lifetime are listed too, by the SHA-256 of their ``client_id`` (the list is public):
every token they hold is dead.
"""

import hashlib
import time
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Q
from django.http import JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.generic import View
from oauth2_provider.compat import login_not_required
from oauth2_provider.settings import oauth2_settings

from harbourmaster.api.throttling import redis_client
from tenants.models import Client, Tenant
from tenants.selectors import REVOKED_CLIENTS_CACHE_KEY

LIST_KEY = "oauth-revoked-jtis"
# How long a resource server may keep the list: the longest a revoked JWT lives on there.
LIST_MAX_AGE_SECONDS = 15
# How long the hub keeps its own answer for the clients part (dropped on every client change).
REVOKED_CLIENTS_CACHE_SECONDS = 5


def revoked_jti_cache_key(jti: str) -> str:
    return f"oauth-revoked-jti:{jti}"


def jwt_access_token_revoke(*, jti: str, expires: int) -> None:
    """List ``jti`` until ``expires``; at once (a revocation that rolls back errs on the safe side)."""
    lifetime = int(expires - time.time()) + 1
    if lifetime <= 0:
        return
    cache.set(revoked_jti_cache_key(jti), expires, lifetime)
    client = redis_client()
    if client is None:  # the embedded default: one process, one local list
        listed = cache.get(LIST_KEY, {})
        cache.set(LIST_KEY, {**listed, jti: expires}, None)
        return
    key = cache.make_and_validate_key(LIST_KEY)
    pipeline = client.pipeline(transaction=False)
    pipeline.zadd(key, {jti: expires})
    pipeline.zremrangebyscore(key, "-inf", time.time())
    pipeline.execute()


def revoked_jtis() -> dict[str, int]:
    """Every listed ``jti`` that has not expired yet, with its ``exp``."""
    now = time.time()
    client = redis_client()
    if client is None:
        return {jti: expires for jti, expires in cache.get(LIST_KEY, {}).items() if expires > now}
    found = client.zrangebyscore(cache.make_and_validate_key(LIST_KEY), now, "+inf", withscores=True)
    return {jti.decode(): int(expires) for jti, expires in found}


def client_id_digest(client_id: str) -> str:
    """How the public list names a client: a resource server hashes the ``client_id`` of the
    token it holds; a stranger learns nothing about which tenant lost which client."""
    return hashlib.sha256(client_id.encode()).hexdigest()


def revoked_client_digests() -> list[str]:
    """Clients whose tokens died with them within an access token's lifetime.

    The list is public, so a stranger could ask for it as fast as they like: the answer is
    kept in the cache for a few seconds, and dropped at once when a client or tenant
    changes (tenants.selectors.client_cache_forget).
    """
    cached = cache.get(REVOKED_CLIENTS_CACHE_KEY)
    if isinstance(cached, list):
        return cached
    since = timezone.now() - timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    gone = Q(disabled_at__gte=since) | (~Q(tenant__status=Tenant.Status.ACTIVE) & Q(tenant__updated_at__gte=since))
    digests = sorted(
        client_id_digest(client_id) for client_id in Client.objects.filter(gone).values_list("client_id", flat=True)
    )
    cache.set(REVOKED_CLIENTS_CACHE_KEY, digests, REVOKED_CLIENTS_CACHE_SECONDS)
    return digests


def revocation_list() -> dict:
    listed = revoked_jtis()
    return {
        "generated_at": int(time.time()),
        "revoked": [{"jti": jti, "exp": expires} for jti, expires in sorted(listed.items())],
        "revoked_client_sha256": revoked_client_digests(),
    }


@method_decorator(login_not_required, name="dispatch")
class RevocationListView(View):
    """Public, like the JWKS: a ``jti`` is random and says nothing about its holder."""

    def get(self, request, *args, **kwargs):
        response = JsonResponse(revocation_list())
        response["Cache-Control"] = f"public, max-age={LIST_MAX_AGE_SECONDS}"
        response["Access-Control-Allow-Origin"] = "*"
        return response
