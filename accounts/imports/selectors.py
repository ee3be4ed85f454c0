from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.imports.models import ImportJob, ImportRowError


def import_stall_timeout() -> timedelta:
    """A job whose worker has written nothing for this long is taken to be dead."""
    return timedelta(seconds=settings.USER_IMPORT_STALL_SECONDS)


def import_jobs_stalled() -> QuerySet[ImportJob]:
    """Unfinished jobs nobody has worked on for the stall timeout: their task was lost
    (broker down when it was sent) or their worker died."""
    quiet_since = timezone.now() - import_stall_timeout()
    return (
        ImportJob.all_tenants.filter(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
        .alias(last_sign=Coalesce("heartbeat_at", "created_at"))
        .filter(last_sign__lt=quiet_since)
    )


def import_row_errors(*, job: ImportJob) -> QuerySet[ImportRowError]:
    return ImportRowError.objects.filter(job=job).order_by("line")
