"""A budget of failures per client address at the provider's machine endpoints.

The token, revocation and introspection endpoints and userinfo answer anyone. An address
that keeps failing to prove it is a client (a wrong client secret, an unknown client, or
a made-up code or refresh token sent for a public client, which has no secret to prove
anything with) spends the same per-minute budget as bad tokens at the tenant API
(``API_FAILED_AUTHENTICATIONS_PER_MINUTE``, counted per ``client_address_key``); once it
is spent, the address gets 429 with ``Retry-After`` for the rest of the minute, at these
four endpoints, before anything it sent is looked at.

What a client meets in normal use does not count: an expired or revoked refresh token
presented by a confidential client that proved itself (an app's backend refreshing for
thousands of users meets many), and bearer tokens refused at userinfo (expired ones
reach it in normal use, and an access token cannot be guessed).

Reading the shared counter would cost every request a Redis round trip. A process asks
only for addresses it has itself seen fail in the last two minutes: a caller that does
not fail pays nothing, and one that fails is checked from its next request on, in each
process it reaches.

A browser app (a single-page app at /o/token/) must be able to read the 429 to back off:
without CORS headers it sees only a network error. The budget refuses before the client
is known, so the 429 cannot echo an origin the client allows, as the toolkit does on
success; it says ``Access-Control-Allow-Origin: *`` instead, and exposes ``Retry-After``,
to a request that came with an ``Origin``. That is safe: no cookies are used at these
endpoints (no ``Allow-Credentials``), and the body says only that this address is over
its budget, which any page could bring about from its visitor's browser. Echoing only
origins some client allows would cost a query of every client's origins on each refused
request, the flood the budget is there to make cheap, and would protect nothing. A
preflight (OPTIONS) carries no credentials and proves nothing: it is passed to the view,
never refused and never counted.
"""

import functools
import json
import time

from django.core.cache import cache
from django.http import JsonResponse

from harbourmaster.api.throttling import (
    failed_authentication_key,
    failed_authentication_note,
    failed_authentication_wait,
)
from harbourmaster.client_address import client_address_key

SUSPECT_SECONDS = 120
SUSPECTS_KEPT = 10_000
# Answers that count; other errors (a malformed request, an unsupported grant type) are a
# client's bug, not a guess.
CLIENT_UNPROVEN = "invalid_client"
GRANT_REFUSED = "invalid_grant"  # counts only for a request that carried no client secret

_suspects: dict[str, float] = {}  # address -> monotonic time until which it is checked


def failure_budgeted(view):
    """The view, behind its address's failure budget; its failures spend it."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "OPTIONS":
            return view(request, *args, **kwargs)  # a CORS preflight: no credentials to refuse
        address = client_address_key(request)
        wait = _wait(address)
        if wait is not None:
            return _too_many(request, wait)
        response = view(request, *args, **kwargs)
        if _failed(request, response):
            _suspects_note(address)
            failed_authentication_note(address)
        return response

    return wrapped


def failure_suspects_forget() -> None:
    """Forget which addresses this process saw fail (tests: each starts with a clear cache)."""
    _suspects.clear()


def _wait(address: str) -> int | None:
    until = _suspects.get(address)
    if until is None:
        return None
    if until < time.monotonic():
        _suspects.pop(address, None)
        return None
    return failed_authentication_wait(cache.get(failed_authentication_key(address)))


def _suspects_note(address: str) -> None:
    if len(_suspects) >= SUSPECTS_KEPT:
        _suspects.clear()  # many addresses failing: each is checked again from its next failure
    _suspects[address] = time.monotonic() + SUSPECT_SECONDS


def _failed(request, response) -> bool:
    if response.status_code not in (400, 401) or response.streaming:
        return False
    if not response.get("Content-Type", "").startswith("application/json"):
        return False  # userinfo's 401 (a refused bearer token) has no body
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return False
    return error == CLIENT_UNPROVEN or (error == GRANT_REFUSED and not _secret_sent(request))


def _secret_sent(request) -> bool:
    """Whether the request authenticated a client with a secret (HTTP Basic or the body);
    a wrong one is answered invalid_client, which counts anyway."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    return authorization[:6].lower() == "basic " or bool(request.POST.get("client_secret"))


def _too_many(request, wait: int) -> JsonResponse:
    response = JsonResponse(
        {"error": "slow_down", "error_description": "too many failed requests from this address"}, status=429
    )
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    if "HTTP_ORIGIN" in request.META:
        _readable_by_browsers(response)
    return response


def _readable_by_browsers(response) -> None:
    """Let a browser app read the refusal and its wait (any origin: see the module docstring)."""
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "Retry-After"
