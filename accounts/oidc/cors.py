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
client, and at userinfo, the first time this process sees the token, a cache read and
one indexed query for the token's client.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) names no client: it is
granted when some usable client lists the origin. One cache entry for the whole hub maps
each listed origin to its clients (``clients_by_allowed_origin``: one query to build, kept
a minute, forgotten by ``client_create`` and ``client_update``), so a preflight from an
origin no client lists costs one cache read, no query and no write, however many origins
a caller tries (preflights are outside the failure budget). A listed origin's clients
are then read in one round trip through the client cache, which every change of a client
or its tenant forgets, so a client disabled or an origin removed stops counting at once.
The view still answers the preflight (Django's ``Allow``), so it looks as before to a
caller no client knows.

Any answer to a request with ``Origin`` says ``Vary: Origin``, granted or not, so a cache
on the way never serves one origin's answer to another.

Never ``Access-Control-Allow-Credentials``: no cookies are used at these endpoints. The
failure budget's 429 is answered outside this wrapper, with its own ``*``.
"""

import functools
import re

from django.utils.cache import patch_vary_headers

from accounts.oidc.validators import client_credentials_of
from tenants.selectors import (
    CachedClient,
    access_token_checksum,
    client_cached,
    client_id_of_access_token,
    clients_by_allowed_origin,
    clients_cached,
)

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
        if origin is None:
            return response
        patch_vary_headers(response, ["Origin"])
        if not _looks_like_origin(origin):
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
    """The client the bearer token was issued to (tenants.selectors)."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return client_id_of_access_token(access_token_checksum(token))


def client_allows_origin(client_id: str | None, origin: str) -> bool:
    if not client_id:
        return False
    return _allows(client_cached(client_id=client_id), origin)


def origin_allowed_by_some_client(origin: str) -> bool:
    client_ids = clients_by_allowed_origin().get(origin)
    if not client_ids:
        return False
    return any(_allows(found, origin) for found in clients_cached(client_ids=client_ids))


def _allows(found: CachedClient | None, origin: str) -> bool:
    # The client as cached now: an origin removed since the index was read no longer counts.
    return found is not None and found.usable and origin in found.client.allowed_origins.split()


def _looks_like_origin(origin: str) -> bool:
    return len(origin) <= ORIGIN_MAX_LENGTH and ORIGIN_PATTERN.fullmatch(origin) is not None


def _grant(response, origin: str, exposed: str) -> None:
    # Replaces, never repeats, the header the toolkit sets on a successful grant.
    response["Access-Control-Allow-Origin"] = origin
    if exposed:
        response["Access-Control-Expose-Headers"] = exposed


def _grant_preflight(response, origin: str, methods: str) -> None:
    _grant(response, origin, "")
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
