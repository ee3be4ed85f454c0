"""Revoked JWT access tokens, until they would have expired anyway.

A resource server that checks JWT access tokens on its own polls this list (served at
/o/revoked-tokens/); the hub's own API, introspection and userinfo honour it too. Four
sections, the first three public, the last its tenant's own:

- ``revoked``: tokens revoked one by one, by ``jti``, each with its ``exp``. Each entry is
  kept twice in the cache: a key per ``jti`` (read by the API in the same round trip as
  the client) and, with Redis, a sorted set scored by ``exp`` for the published list.
- ``revoked_client_sha256``: clients that were disabled, or whose tenant was suspended or
  deleted, within an access token's lifetime, by the SHA-256 of their ``client_id`` (the
  list is public): every token they hold is dead.
- ``revoked_clients``: clients disabled within an access token's lifetime, whether enabled
  again since or not, by the same digest, each with ``revoked_before`` and ``exp``: every
  token of that client whose ``iat`` is at or before ``revoked_before`` is dead (enabling
  a client does not revive the tokens its disable ended; decision 27).
- ``revoked_subjects``: users deactivated or signed out everywhere (decision 27), one
  entry per client they may hold tokens of, and users whose sign-in at a client the hub
  ended (a reused code, a revoked or replayed refresh token: that client's entry only),
  named by the SHA-256 of ``client_id ":" sub`` (the ``sub`` that client's tokens carry,
  pairwise or not), with ``revoked_before``: every token of that client and subject
  whose ``iat`` is at or before it is dead. Both inputs of the digest can be known to
  another tenant, so the section is listed only to a confidential client of the tenant
  it concerns (HTTP Basic), with that tenant's entries only. Kept, like the rest, in a
  key per entry for the hub's own checks and, with Redis, a sorted set per tenant scored
  by ``revoked_before`` (the embedded default: a dict per tenant in the cache), for an
  access token's lifetime (``exp``: when the entry leaves the list).
"""

import hashlib
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from functools import partial

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.http import JsonResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.views.generic import View
from oauth2_provider.compat import login_not_required
from oauth2_provider.settings import oauth2_settings

from accounts.models import Membership, User
from accounts.oidc.claims import subject_for
from accounts.oidc.jwt_tokens import FORMAT_JWT
from harbourmaster.api.throttling import (
    failed_authentication_key,
    failed_authentication_note,
    failed_authentication_wait,
    redis_client,
)
from harbourmaster.client_address import client_address_key
from tenants.models import Client, Tenant
from tenants.selectors import REVOKED_CLIENTS_CACHE_KEY, client_cached, tenant_effective_config

LIST_KEY = "oauth-revoked-jtis"
SUBJECTS_LIST_KEY = "oauth-revoked-subjects"
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


def revoked_client_sections() -> dict[str, list]:
    """The two client sections of the list:

    - ``revoked_client_sha256``: clients whose tokens died with them (disabled now, or of a
      tenant suspended or deleted) within an access token's lifetime;
    - ``revoked_clients``: clients disabled within an access token's lifetime, enabled
      again since or not, each with ``revoked_before`` (``Client.tokens_revoked_before``):
      their tokens issued up to it stay dead.

    The list is public, so a stranger could ask for it as fast as they like: the answer is
    kept in the cache for a few seconds, and dropped at once when a client or tenant
    changes (tenants.selectors.client_cache_forget)."""
    cached = cache.get(REVOKED_CLIENTS_CACHE_KEY)
    if isinstance(cached, dict):
        return cached
    lifetime = oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    since = timezone.now() - timedelta(seconds=lifetime)
    gone = Q(disabled_at__gte=since) | (~Q(tenant__status=Tenant.Status.ACTIVE) & Q(tenant__updated_at__gte=since))
    digests = sorted(
        client_id_digest(client_id) for client_id in Client.objects.filter(gone).values_list("client_id", flat=True)
    )
    disabled = Client.objects.filter(tokens_revoked_before__gte=since).values_list("client_id", "tokens_revoked_before")
    entries = sorted(
        (client_id_digest(client_id), int(revoked_before.timestamp())) for client_id, revoked_before in disabled
    )
    found = {
        "revoked_client_sha256": digests,
        "revoked_clients": [
            {"client_sha256": digest, "revoked_before": revoked_before, "exp": revoked_before + lifetime}
            for digest, revoked_before in entries
        ],
    }
    cache.set(REVOKED_CLIENTS_CACHE_KEY, found, REVOKED_CLIENTS_CACHE_SECONDS)
    return found


# --- Revoked subjects: every token of a user at a client, issued up to a moment -----------


def subject_digest(*, client_id: str, subject: str) -> str:
    """How the list names a user at a client: the SHA-256 of ``client_id:sub``, both read
    off the token. Bound to the client, so an entry never reaches another tenant's tokens
    of the same person (a public ``sub`` is the same at every tenant). Both inputs can be
    known to another tenant (a client id is in every authorization URL, a public ``sub``
    is the user's uuid everywhere), so the digest hides nothing by itself: entries are
    published to their own tenant only (``revocation_list``). A hub ``sub`` never holds a
    colon (a UUID or a pairwise base64url value), so no two pairs make the same string."""
    return hashlib.sha256(f"{client_id}:{subject}".encode()).hexdigest()


def revoked_subject_cache_key(digest: str) -> str:
    return f"oauth-revoked-subject:{digest}"


def _subjects_list_key(tenant_id: int) -> str:
    # One list per tenant: its clients read theirs without anyone else's.
    return f"{SUBJECTS_LIST_KEY}:{tenant_id}"


def _subject_entry_seconds() -> int:
    # The longest any token issued before the entry can still live.
    return oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS


def user_subject_digests(*, user: User) -> dict[int, list[str]]:
    """The list's names for ``user`` at every client that signs users in, of every tenant
    the user is a member of (a sign-in makes the user one), by tenant id. The clients are
    read from the tenants, not from the user's token rows: rotation, revocation and the
    admin delete rows of JWTs that stay valid at resource servers."""
    tenant_ids = Membership.all_tenants.filter(user=user).values("tenant_id")
    clients = Client.objects.filter(tenant_id__in=tenant_ids).exclude(
        authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS  # a machine token's sub is its client
    )
    subjects: dict[int, str] = {}
    digests: dict[int, set[str]] = {}
    for client in clients.select_related("tenant").order_by("pk"):
        if client.tenant_id not in subjects:
            subjects[client.tenant_id] = subject_for(user=user, tenant=client.tenant)
        digest = subject_digest(client_id=client.client_id, subject=subjects[client.tenant_id])
        digests.setdefault(client.tenant_id, set()).add(digest)
    return {tenant_id: sorted(named) for tenant_id, named in digests.items()}


def jwt_subjects_revoke(*, digests: Mapping[int, Iterable[str]]) -> int:
    """List ``digests`` (by tenant id) as revoked now: every token they name issued at or
    before this second (``iat`` has whole seconds, so a token of the same second is
    refused too). Call after commit: a sign-out that rolls back must not end the user's
    tokens. Returns ``revoked_before``."""
    revoked_before = int(time.time())
    entries = {tenant_id: dict.fromkeys(named, revoked_before) for tenant_id, named in digests.items()}
    entries = {tenant_id: named for tenant_id, named in entries.items() if named}
    if not entries:
        return revoked_before
    lifetime = _subject_entry_seconds() + 1
    every = {digest for named in entries.values() for digest in named}
    cache.set_many({revoked_subject_cache_key(digest): revoked_before for digest in every}, lifetime)
    client = redis_client()
    if client is None:  # the embedded default: one process, one local list per tenant
        for tenant_id, named in entries.items():
            key = _subjects_list_key(tenant_id)
            cache.set(key, {**_subjects_live(cache.get(key, {})), **named}, None)
        return revoked_before
    pipeline = client.pipeline(transaction=False)
    for tenant_id, named in entries.items():
        key = cache.make_and_validate_key(_subjects_list_key(tenant_id))
        pipeline.zadd(key, named, gt=True)  # a later sign-out moves the moment on, never back
        pipeline.zremrangebyscore(key, "-inf", f"({time.time() - _subject_entry_seconds()}")
        pipeline.expire(key, lifetime)  # a tenant whose users stop signing out leaves nothing behind
    pipeline.execute()
    return revoked_before


def jwt_sign_in_revoke(*, client: Client, user: User) -> None:
    """List ``user`` at ``client`` as revoked, after commit, where the client's tenant issues
    JWT access tokens: the hub ended a sign-in there on its own account (a reused code, a
    revoked or replayed refresh token; decision 27, amendment), and its JWT access tokens
    would otherwise live on at resource servers. The hub keeps no ``jti``, so the entry
    names the subject at that client: every token of it issued up to that second."""
    if tenant_effective_config(tenant=client.tenant)["access_token_format"] != FORMAT_JWT:
        return  # an opaque token dies with its row, at the hub, the only place it is checked
    digest = subject_digest(client_id=client.client_id, subject=subject_for(user=user, tenant=client.tenant))
    transaction.on_commit(partial(jwt_subjects_revoke, digests={client.tenant_id: [digest]}), robust=True)


def _subjects_live(listed: dict[str, int]) -> dict[str, int]:
    oldest = time.time() - _subject_entry_seconds()
    return {digest: revoked_before for digest, revoked_before in listed.items() if revoked_before >= oldest}


def revoked_subjects(*, tenant_id: int) -> dict[str, int]:
    """Every subject digest listed for ``tenant_id``'s clients whose tokens may still live,
    with its ``revoked_before``."""
    key = _subjects_list_key(tenant_id)
    client = redis_client()
    if client is None:
        return _subjects_live(cache.get(key, {}))
    oldest = time.time() - _subject_entry_seconds()
    found = client.zrangebyscore(cache.make_and_validate_key(key), oldest, "+inf", withscores=True)
    return {digest.decode(): int(revoked_before) for digest, revoked_before in found}


def subject_token_revoked(*, client_id: str, subject: str, issued: int) -> bool:
    """Whether a token of ``client_id`` for ``subject`` issued at ``issued`` (its ``iat``)
    was revoked with its subject: the hub's own check, as a resource server makes it."""
    revoked_before = cache.get(revoked_subject_cache_key(subject_digest(client_id=client_id, subject=subject)))
    return revoked_before is not None and issued <= revoked_before


def revocation_list(*, tenant_id: int | None = None) -> dict:
    """The published document; ``generated_at`` and every time in it are Unix seconds.

    Everyone gets the ``jti`` and client sections (``revoked_client_sha256``,
    ``revoked_clients``). ``revoked_subjects`` is there only for a tenant's own client
    (``tenant_id``), and holds that tenant's entries only: without it the key is absent,
    not an empty list, so a resource server that forgot its credentials fails loudly
    instead of believing nobody was signed out."""
    listed = revoked_jtis()
    document = {
        "generated_at": int(time.time()),
        "revoked": [{"jti": jti, "exp": expires} for jti, expires in sorted(listed.items())],
        **revoked_client_sections(),
    }
    if tenant_id is not None:
        lifetime = _subject_entry_seconds()
        document["revoked_subjects"] = [
            {"client_sub_sha256": digest, "revoked_before": revoked_before, "exp": revoked_before + lifetime}
            for digest, revoked_before in sorted(revoked_subjects(tenant_id=tenant_id).items())
        ]
    return document


# --- Who asks: a tenant's confidential client, or anyone ----------------------------------


class _Refused(Exception):
    """Credentials were sent and are not a usable confidential client's."""


class _Throttled(Exception):
    def __init__(self, wait: int):
        self.wait = wait


def _caller_tenant_id(request) -> int | None:
    """The tenant whose client authenticated with HTTP Basic (RFC 6749, 2.3.1), or None
    for a caller that sent no client credentials (a bearer token is none). Never from the
    query string: secrets do not belong in URLs (they end up in logs). Valid credentials
    always get their answer; an address that keeps failing is told to wait, with the
    tenant API's budget for strangers, but only for its failures: behind a balancer
    every caller shares one address, and a stranger's guesses must not hold up a tenant."""
    authorization = request.META.get("HTTP_AUTHORIZATION") or ""
    if authorization.split(" ", 1)[0].lower() != "basic":
        return None
    # validators imports this module (the hub's own checks): imported here, not above.
    from accounts.oidc.validators import client_credentials_of

    credentials = client_credentials_of(authorization, None, None)
    found = client_cached(client_id=credentials[0]) if credentials else None
    if (
        found is not None
        and found.client.client_type == Client.CLIENT_CONFIDENTIAL
        and found.secret_matches(credentials[1])  # False for a disabled client or suspended tenant
    ):
        return found.client.tenant_id
    address = client_address_key(request)
    wait = failed_authentication_wait(cache.get(failed_authentication_key(address)))
    failed_authentication_note(address)
    if wait is not None:
        raise _Throttled(wait)
    raise _Refused()


def _refusal(status: int, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": "invalid_client"} if status == 401 else {"error": "slow_down"}, status=status)
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(login_not_required, name="dispatch")
class RevocationListView(View):
    """Public, like the JWKS, for the ``jti`` and client sections: a ``jti`` is random and
    says nothing about its holder, and clients are named by digests only. The subject
    section is a tenant's own: a client of it authenticates (HTTP Basic) to read it.

    Caches: the public answer may be kept by anyone for ``LIST_MAX_AGE_SECONDS``; a
    tenant's answer by nobody (``no-store``), and both say ``Vary: Authorization``, so no
    cache hands one caller's document to another."""

    def get(self, request, *args, **kwargs):
        try:
            tenant_id = _caller_tenant_id(request)
        except _Throttled as throttled:
            return _refusal(429, **{"Retry-After": str(throttled.wait)})
        except _Refused:
            return _refusal(401, **{"WWW-Authenticate": 'Basic realm="harbourmaster"'})
        response = JsonResponse(revocation_list(tenant_id=tenant_id))
        patch_vary_headers(response, ["Authorization"])
        if tenant_id is None:
            response["Cache-Control"] = f"public, max-age={LIST_MAX_AGE_SECONDS}"
            response["Access-Control-Allow-Origin"] = "*"
        else:
            response["Cache-Control"] = "no-store"
        return response
