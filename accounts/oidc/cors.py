"""CORS for browser apps at the token, revocation and userinfo endpoints (decision 32).

A single-page app (a public client: authorization code with PKCE) calls these with
``fetch()`` from its own origin, and its browser lets it read an answer only if the answer
names that origin in ``Access-Control-Allow-Origin``. Each client lists the origins its
app is served from (``Client.allowed_origins``, django-oauth-toolkit's own column, set
through ``client_create`` and ``client_update``). An answer names the request's
``Origin`` when the client the request is for lists it and is usable (not disabled, its
tenant active), whatever the view answered: an app must read ``invalid_grant`` to sign
its user in again, and the toolkit adds the header only to a successful code or refresh
grant.

The client a request is for is the ``client_id`` it names (HTTP Basic, else the body) at
the token and revocation endpoints, unproven: CORS decides who may read the answer, the
view still decides what it says. At userinfo it is the client the bearer token was issued
to. A request without ``Origin`` costs nothing; one with it costs a cache read for its
client, and at userinfo, the first time this process sees the token, one indexed query
for the token's client.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) names no client: it is
granted when some usable client lists the origin. Which clients list an origin is cached
for a minute; ``client_create`` and ``client_update`` forget the origins they store, and
each listed client is read through the client cache, which every change of a client or
its tenant forgets, so a client disabled or an origin removed stops counting at once. The
view still answers the preflight (Django's ``Allow``), so it looks as before to a caller
no client knows.

Never ``Access-Control-Allow-Credentials``: no cookies are used at these endpoints. The
failure budget's 429 is answered outside this wrapper, with its own ``*``.
"""

import functools
import re

from django.core.cache import cache
from django.utils.cache import patch_vary_headers
from oauth2_provider.models import get_access_token_model

from accounts.oidc.validators import client_credentials_of
from tenants.models import Client
from tenants.selectors import (
    access_token_checksum,
    client_cached,
    client_of_token_known,
    client_of_token_remember,
    origin_clients_cache_key,
)

ORIGIN_CLIENTS_CACHE_SECONDS = 60
PREFLIGHT_MAX_AGE_SECONDS = 600
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type"
# What a browser sends in Origin for an http(s) page: lowercase, no path; anything else is
# granted nothing and looked up nowhere.
ORIGIN_PATTERN = re.compile(r"https?://[a-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9a-f:.]+\](:\d{1,5})?")
ORIGIN_MAX_LENGTH = 300


def readable_by_allowed_origins(view, *, client_id_of, methods: str, exposed: str = ""):
    """The view, its answers readable by the origins the request's client allows."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        origin = request.META.get("HTTP_ORIGIN")
        if origin is None or not _looks_like_origin(origin):
            return response
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            if origin_allowed_by_some_client(origin):
                _grant_preflight(response, origin, methods)
        elif client_allows_origin(client_id_of(request), origin):
            _grant(response, origin, exposed)
        return response

    return wrapped


def for_client_requests(view):
    """/o/token/ and /o/revoke_token/: the client the request names."""
    return readable_by_allowed_origins(view, client_id_of=client_id_named, methods="POST")


def for_bearer_requests(view):
    """/o/userinfo/: the client of the bearer token; the app reads why a token was refused."""
    return readable_by_allowed_origins(
        view, client_id_of=client_id_of_bearer, methods="GET, POST", exposed="WWW-Authenticate"
    )


def client_id_named(request) -> str | None:
    """The client_id of HTTP Basic if sent (as the views read it), else of the body; unproven."""
    basic = client_credentials_of(request.META.get("HTTP_AUTHORIZATION"), None, None)
    if basic is not None:
        return basic[0]
    return request.POST.get("client_id") or None


def client_id_of_bearer(request) -> str | None:
    """The client the bearer token was issued to: remembered by this process, else one query."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    checksum = access_token_checksum(token)
    client_id = client_of_token_known(checksum)
    if client_id is None:
        tokens = get_access_token_model().objects.filter(token_checksum=checksum)
        client_id = tokens.values_list("application__client_id", flat=True).first()
        if client_id is not None:
            client_of_token_remember(checksum, client_id)
    return client_id


def client_allows_origin(client_id: str | None, origin: str) -> bool:
    if not client_id:
        return False
    found = client_cached(client_id=client_id)
    return found is not None and found.usable and origin in found.client.allowed_origins.split()


def origin_allowed_by_some_client(origin: str) -> bool:
    key = origin_clients_cache_key(origin)
    client_ids = cache.get(key)
    if client_ids is None:
        client_ids = _clients_listing(origin)
        cache.set(key, client_ids, ORIGIN_CLIENTS_CACHE_SECONDS)
    return any(client_allows_origin(client_id, origin) for client_id in client_ids)


def _clients_listing(origin: str) -> list[str]:
    # Disabled clients and suspended tenants' too: whether they count is read at each
    # preflight from the client cache, so enabling one needs nothing forgotten here.
    rows = Client.objects.filter(allowed_origins__contains=origin).values_list("client_id", "allowed_origins")
    return [client_id for client_id, origins in rows if origin in origins.split()]


def _looks_like_origin(origin: str) -> bool:
    return len(origin) <= ORIGIN_MAX_LENGTH and ORIGIN_PATTERN.fullmatch(origin) is not None


def _grant(response, origin: str, exposed: str) -> None:
    # Replaces, never repeats, the header the toolkit sets on a successful grant.
    response["Access-Control-Allow-Origin"] = origin
    if exposed:
        response["Access-Control-Expose-Headers"] = exposed
    patch_vary_headers(response, ["Origin"])


def _grant_preflight(response, origin: str, methods: str) -> None:
    _grant(response, origin, "")
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
