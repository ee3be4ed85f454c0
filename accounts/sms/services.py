"""Sending text messages: schedule after commit, deliver from a worker.

The message (number and text, which may hold a sign-in code) never travels as a task
argument: it waits in the cache (``accounts.signin.pending``) and the task carries only a
random id. Delivery drops it, so a task delivered twice sends once.
"""

import logging

from accounts.signin.pending import pending_drop, pending_get, pending_send_on_commit
from accounts.sms.backends import SmsRejected, sms_backend

logger = logging.getLogger(__name__)

PENDING_KIND = "sms"


def sms_schedule(*, to: str, text: str) -> None:
    """Send ``text`` to ``to`` once the current transaction commits (at once outside one)."""
    from accounts.sms.tasks import sms_send_task

    pending_send_on_commit(kind=PENDING_KIND, message={"to": to, "text": text}, task=sms_send_task)


def sms_deliver(*, message_id: str) -> None:
    """Hand the pending message to the backend; a retryable failure leaves it pending."""
    message = pending_get(kind=PENDING_KIND, message_id=message_id)
    if message is None:
        return  # sent already, or waited too long to be of use
    try:
        sms_backend().send(message["to"], message["text"])
    except SmsRejected as refusal:
        logger.warning("SMS %s to %s…%s dropped: %s", message_id, message["to"][:4], message["to"][-2:], refusal)
    pending_drop(kind=PENDING_KIND, message_id=message_id)
