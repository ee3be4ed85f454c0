"""A budget of failures per client address at the provider's machine endpoints.

The token, revocation and introspection endpoints and userinfo answer anyone. An address
that keeps failing there (a wrong client secret, a made-up code or refresh token, a bad
bearer token) spends the same per-minute budget as bad tokens at the tenant API
(``API_FAILED_AUTHENTICATIONS_PER_MINUTE``, counted per ``client_address_key``); once it
is spent, the address gets 429 with ``Retry-After`` for the rest of the minute, before
anything it sent is looked at.

Reading the shared counter would cost every request a Redis round trip. A process asks
only for addresses it has itself seen fail in the last two minutes: a caller that does
not fail pays nothing, and one that fails is checked from its next request on, in each
process it reaches.
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
# What says the caller's credentials or grant were wrong; other errors (a malformed
# request, an unsupported grant type) are the caller's bug, not a guess.
FAILURES = frozenset({"invalid_client", "invalid_grant", "invalid_token"})

_suspects: dict[str, float] = {}  # address -> monotonic time until which it is checked


def failure_budgeted(view):
    """The view, behind its address's failure budget; its failures spend it."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        address = client_address_key(request)
        wait = _wait(address)
        if wait is not None:
            return _too_many(wait)
        response = view(request, *args, **kwargs)
        if _failed(response):
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


def _failed(response) -> bool:
    if response.status_code == 401:
        return True
    if response.status_code != 400 or response.streaming:
        return False
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        return json.loads(response.content).get("error") in FAILURES
    except (ValueError, AttributeError):
        return False


def _too_many(wait: int) -> JsonResponse:
    response = JsonResponse(
        {"error": "slow_down", "error_description": "too many failed requests from this address"}, status=429
    )
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response
