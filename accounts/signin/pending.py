"""Messages waiting for a worker: sent after commit, never carried in a task's arguments.

A message (a text or an email) may hold a sign-in code. Celery logs task arguments and the
broker keeps them, so the message waits in the cache under a random id for at most
``PENDING_SECONDS`` and the task carries only that id. The sender drops it once delivered,
so a task delivered twice sends once; a failed delivery leaves it for the retry.
"""

import secrets
from typing import Any

from django.core.cache import cache
from django.db import transaction

PENDING_SECONDS = 3600  # the longest a sign-in code lives


def _pending_key(kind: str, message_id: str) -> str:
    return f"{kind}:pending:{message_id}"


def pending_send_on_commit(*, kind: str, message: dict[str, Any], task) -> None:
    """Keep ``message`` and queue ``task(message_id)`` once the current transaction commits
    (at once outside one); a rolled-back transaction sends nothing."""
    message_id = secrets.token_urlsafe(16)

    def enqueue() -> None:
        cache.set(_pending_key(kind, message_id), message, PENDING_SECONDS)
        task.delay(message_id)

    transaction.on_commit(enqueue)


def pending_get(*, kind: str, message_id: str) -> dict[str, Any] | None:
    """The message waiting under ``message_id``; None once sent or waited too long."""
    return cache.get(_pending_key(kind, message_id))


def pending_drop(*, kind: str, message_id: str) -> None:
    cache.delete(_pending_key(kind, message_id))
