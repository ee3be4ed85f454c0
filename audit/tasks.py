"""Celery tasks of the audit app: thin doors onto its services."""

from celery import shared_task

from audit import services


@shared_task
def access_subject_index_merge() -> int:
    """After a stream was recorded: fold its subjects into the per-user index."""
    return services.access_subject_index_merge()
