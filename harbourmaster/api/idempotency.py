"""``Idempotency-Key`` for tenant writes (DESIGN invariant 3: nothing is lost, nothing twice).

A client that is not sure its write arrived sends it again with the same key. The first
request claims the key by inserting a row, in the same transaction as the write; a
concurrent twin blocks on the unique index until the first commits, then finds the row
and answers with the stored response. Only successful answers are stored: an error
rolls the claim back with everything else, so the retry is simply evaluated again and
the outcome is the same, because nothing changed.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

from harbourmaster.api.caller import ApiCaller
from tenants.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Replayed with the body: a client follows them (the import job a 202 created, say).
REPLAYED_HEADERS = ("Location", "ETag")


def _lifetime() -> timedelta:
    return timedelta(seconds=getattr(settings, "API_IDEMPOTENCY_KEY_SECONDS", 24 * 3600))


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used for a different request."
    default_code = "idempotency_key_reused"


class IdempotencyKeyInvalid(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
    default_code = "invalid_idempotency_key"


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method}\n{request.get_full_path()}\n{body}".encode()).hexdigest()


def _key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyInvalid()
    return key


def _claim(caller: ApiCaller, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Insert the key; None when another request holds it (committed, or until it commits)."""
    now = timezone.now()
    IdempotencyKey.objects.filter(client=caller.client, key=key, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                tenant=caller.tenant,
                client=caller.client,
                key=key,
                fingerprint=fingerprint,
                status_code=0,
                expires_at=now + _lifetime(),
            )
    except IntegrityError:
        return None


def _replay(caller: ApiCaller, key: str, fingerprint: str) -> Response:
    stored = IdempotencyKey.objects.get(client=caller.client, key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    headers = {**stored.response_headers, "Idempotent-Replayed": "true"}
    return Response(stored.response_body, status=stored.status_code, headers=headers)


def idempotent(request, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` (a write) at most once per client and key; replay its answer after."""
    key = _key_of(request)
    if key is None:
        return handler()
    caller: ApiCaller = request.auth
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        claim = _claim(caller, key, fingerprint)
        if claim is None:
            return _replay(caller, key, fingerprint)
        response = handler()
        if status.is_success(response.status_code):
            claim.status_code, claim.response_body = response.status_code, response.data
            claim.response_headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
            claim.save(update_fields=["status_code", "response_body", "response_headers"])
        else:
            transaction.set_rollback(True)
        return response


def idempotency_keys_purge() -> int:
    """Delete expired keys (a periodic task's work); returns how many went."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
