"""Celery tasks of the accounts app: thin doors onto its services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from accounts.imports import services as imports


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def import_job_process(job_id: int) -> None:
    """Work through an import; a re-run continues after its last committed line."""
    claim = imports.import_job_claim(job_id=job_id)
    if claim is None:
        return  # gone, finished, or held by a live worker
    imports.import_job_run(job_id=job_id, claim=claim)


@shared_task
def import_jobs_sweep() -> int:
    """Periodic (beat): queue again the imports whose worker died or whose task was lost."""
    job_ids = imports.import_jobs_sweep()
    for job_id in job_ids:
        import_job_process.delay(job_id)
    return len(job_ids)
