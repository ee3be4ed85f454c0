"""Celery tasks of the sign-in: thin doors onto ``accounts.signin.services``."""

from celery import shared_task

from accounts.signin.services import UNCONFIRMED_MAX_AGE, signin_mail_deliver, signin_unconfirmed_accounts_purge


@shared_task(
    autoretry_for=(OSError,),  # smtplib's errors and a refused connection
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def signin_mail_send_task(message_id: str) -> None:
    """Carries only the id of the waiting email: never its code or link."""
    signin_mail_deliver(message_id=message_id)


@shared_task
def signin_unconfirmed_purge_task() -> int:
    """Periodic (beat): sign-ups by code nobody confirmed within a day go."""
    return signin_unconfirmed_accounts_purge(older_than=UNCONFIRMED_MAX_AGE)
