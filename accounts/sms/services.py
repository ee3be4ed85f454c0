"""Sending text messages: schedule after commit, deliver from a worker.

The message (number and text, which may hold a sign-in code) never travels as a task
argument, where Celery would log it and the broker keep it: it waits in the cache under a
random id for at most ``PENDING_SECONDS``, and the task carries only that id. Delivery
deletes it, so a task delivered twice sends once.
"""

import logging
import secrets

from django.core.cache import cache
from django.db import transaction

from accounts.sms.backends import SmsRejected, sms_backend

logger = logging.getLogger(__name__)

PENDING_SECONDS = 3600  # the longest a sign-in code lives


def _pending_key(message_id: str) -> str:
    return f"sms:pending:{message_id}"


def sms_schedule(*, to: str, text: str) -> None:
    """Send ``text`` to ``to`` once the current transaction commits (at once outside one)."""
    from accounts.sms.tasks import sms_send_task

    message_id = secrets.token_urlsafe(16)

    def enqueue() -> None:
        cache.set(_pending_key(message_id), {"to": to, "text": text}, PENDING_SECONDS)
        sms_send_task.delay(message_id)

    transaction.on_commit(enqueue)


def sms_deliver(*, message_id: str) -> None:
    """Hand the pending message to the backend; a retryable failure leaves it pending."""
    message = cache.get(_pending_key(message_id))
    if message is None:
        return  # sent already, or waited too long to be of use
    try:
        sms_backend().send(message["to"], message["text"])
    except SmsRejected as refusal:
        logger.warning("SMS %s to %s…%s dropped: %s", message_id, message["to"][:4], message["to"][-2:], refusal)
    cache.delete(_pending_key(message_id))
