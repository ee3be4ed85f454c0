"""Periodic housekeeping, scheduled by Celery beat (CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task
from oauth2_provider.models import clear_expired

from harbourmaster.api.idempotency import idempotency_keys_purge


@shared_task
def idempotency_keys_purge_task() -> int:
    return idempotency_keys_purge()


@shared_task
def oauth_tokens_clear_task() -> None:
    """Expired tokens and codes; revoked refresh tokens once past their absolute lifetime."""
    clear_expired()
