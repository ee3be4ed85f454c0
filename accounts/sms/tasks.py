"""The SMS task: thin, retried with backoff while the gateway fails; it carries only an id."""

from celery import shared_task

from accounts.sms.backends import SmsDeliveryFailed
from accounts.sms.services import sms_deliver


@shared_task(
    autoretry_for=(SmsDeliveryFailed,), retry_backoff=5, retry_backoff_max=300, retry_jitter=True, max_retries=6
)
def sms_send_task(message_id: str) -> None:
    sms_deliver(message_id=message_id)
