"""Bulk import of users and their consents: many single pushes, in batches, resumable.

Every row of a batch is read and validated first (in a thread, while the batch before it
is written). Rows whose outcome does not depend on the order of the rows (new users, and
existing users named by one row only) go the set-based path (accounts/imports/bulk.py:
the same checks, a few statements per batch); every other row goes through the single push's services (``user_push``,
``consent_record_for_tenant``) in a savepoint of its own, so a row is applied entirely or not at
all. Rows are committed in batches of USER_IMPORT_BATCH_SIZE, together with the job's
progress (``last_line``, counts) and the batch's row errors: ``last_line`` never
disagrees with what was applied, and a worker that dies loses at most its open batch,
which the next run does again. A worker owns a job through ``claim``; one that lost it
stops at its next batch. (docs/decisions/0014-bulk-import.md)
"""

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from psycopg.errors import DeadlockDetected

from accounts.confirmations.services import consent_record_for_tenant, hub_url
from accounts.imports.bulk import rows_apply_bulk
from accounts.imports.models import ImportJob, ImportRowError
from accounts.imports.rows import Row, RowRefused, error_paths, rows_read
from accounts.imports.selectors import import_jobs_stalled, import_stall_timeout
from accounts.services import UserNotKnown, UserPushConflict, user_push
from consents.models import Channel, ConsentRecord, Purpose
from harbourmaster.actors import Actor
from tenants.context import tenant_context

MAX_ATTEMPTS = 5
DEADLOCK_RETRIES = 3
# Rows the set-based path can settle go that way (accounts/imports/bulk.py); off, every
# row goes through the per-row services (the reference the bulk path is tested against).
BULK_PATH = True


class ClaimLost(Exception):
    """Another worker took the job over (this one was presumed dead): stop, change nothing."""


def _batch_size() -> int:
    return max(1, settings.USER_IMPORT_BATCH_SIZE)


@transaction.atomic
def import_job_create(
    *, actor: Actor, tenant, client, format: str, body: str, rows_total: int, hub_url: str = ""
) -> ImportJob:
    """Store an upload and queue its processing once the upload is committed. ``hub_url``:
    the hub's address as the upload reached it, for links in the messages the rows cause."""
    job = ImportJob.all_tenants.create(
        tenant=tenant, client=client, actor=str(actor), format=format, body=body, rows_total=rows_total, hub_url=hub_url
    )
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from accounts.tasks import import_job_process  # the task module stands on this one

    import_job_process.delay(job_id)


def import_job_claim(*, job_id: int) -> uuid.UUID | None:
    """Take a queued job, or a running one whose worker went quiet; None if neither."""
    now, claim = timezone.now(), uuid.uuid4()
    claimable = Q(status=ImportJob.Status.QUEUED) | Q(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - import_stall_timeout()
    )
    taken = ImportJob.all_tenants.filter(claimable, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
        status=ImportJob.Status.RUNNING,
        claim=claim,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
    )
    return claim if taken else None


def import_job_release(*, job_id: int, claim: uuid.UUID) -> None:
    """Give a job back to the queue (its task will be retried)."""
    ImportJob.all_tenants.filter(pk=job_id, claim=claim).update(status=ImportJob.Status.QUEUED, claim=None)


def import_job_run(*, job_id: int, claim: uuid.UUID) -> None:
    """Apply the job's rows after its last committed line, batch by batch, then finish it."""
    job = ImportJob.all_tenants.select_related("tenant", "client").get(pk=job_id)
    purposes: dict[str, Purpose | None] = {}
    rows = rows_read(format=job.format, body=job.body, after_line=job.last_line)
    try:
        with tenant_context(job.tenant), _read_ahead(rows, _batch_size()) as batches:
            for batch in batches:
                _batch_import_settled(job=job, claim=claim, batch=batch, purposes=purposes)
        _job_finish(job=job, claim=claim)
    except ClaimLost:
        return
    except DatabaseError:
        with contextlib.suppress(DatabaseError):
            import_job_release(job_id=job_id, claim=claim)
        raise


Checked = tuple[Row, dict | RowRefused]  # a row with its validated data, or why it is refused


@contextlib.contextmanager
def _read_ahead(rows: Iterator[Row], size: int) -> Iterator[Iterator[list[Checked]]]:
    """The rows in batches, each read and validated in a thread of its own while the batch
    before it is written: the writes wait on the database, which lets the thread run."""
    language = translation.get_language()

    def batch_read() -> list[Checked]:
        with translation.override(language):  # the errors in the caller's language
            return [(row, _validated(row)) for row in islice(rows, size)]

    def batches() -> Iterator[list[Checked]]:
        pending = reader.submit(batch_read)
        while batch := pending.result():
            pending = reader.submit(batch_read)
            yield batch

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as reader:
        try:
            yield batches()
        finally:
            # A database connection the checks opened in the reader thread is that
            # thread's: close it there, or it outlives the thread.
            reader.submit(connections.close_all).result()


def _validated(row: Row) -> dict | RowRefused:
    try:
        return row.validated()
    except RowRefused as refusal:
        return refusal


def import_jobs_sweep() -> list[int]:
    """Jobs to run again: stalled ones with attempts left. Those without are failed."""
    stalled = import_jobs_stalled()
    # A failed job's upload is not kept either: its rows were applied, reported or given up on.
    stalled.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=ImportJob.Status.FAILED, finished_at=timezone.now(), body=""
    )
    return list(stalled.filter(attempts__lt=MAX_ATTEMPTS).values_list("pk", flat=True))


def _job_finish(*, job: ImportJob, claim: uuid.UUID) -> None:
    # The upload holds personal data that is now applied or reported: it is not kept.
    ImportJob.all_tenants.filter(pk=job.pk, claim=claim).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now(), claim=None, body=""
    )


def _batch_import_settled(*, job: ImportJob, claim: uuid.UUID, batch: list[Checked], purposes: dict) -> None:
    """Import a batch; if two imports deadlock on each other's uncommitted users, the one
    PostgreSQL picks rolls its batch back (releasing its locks) and does it again."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return _batch_import(job=job, claim=claim, batch=batch, purposes=purposes)
        except OperationalError as error:
            if attempt == DEADLOCK_RETRIES - 1 or not isinstance(error.__cause__, DeadlockDetected):
                raise


@transaction.atomic
def _batch_import(*, job: ImportJob, claim: uuid.UUID, batch: list[Checked], purposes: dict) -> None:
    # Moving last_line first locks the job row: a second worker on the same job waits
    # here, then finds the lines taken and stops, instead of applying them twice.
    first, last = batch[0][0].line, batch[-1][0].line
    progressed = ImportJob.all_tenants.filter(pk=job.pk, claim=claim, last_line__lt=first).update(
        last_line=last, heartbeat_at=timezone.now()
    )
    if not progressed:
        raise ClaimLost()
    refused = [
        ImportRowError(job=job, line=row.line, errors=row.described(errors))
        for row, errors in _rows_apply(job=job, batch=batch, purposes=purposes)
    ]
    ImportRowError.objects.bulk_create(refused, ignore_conflicts=True)
    ImportJob.all_tenants.filter(pk=job.pk).update(
        rows_done=F("rows_done") + len(batch) - len(refused), rows_failed=F("rows_failed") + len(refused)
    )


def _rows_apply(*, job: ImportJob, batch: list[Checked], purposes: dict) -> list[tuple[Row, list]]:
    """Apply a batch's validated rows: those the set-based path can settle go that way,
    the rest the per-row path. Returns the refused rows with their errors, by line."""
    refused: dict[int, tuple[Row, list]] = {}
    valid = []
    for row, checked in batch:
        if isinstance(checked, RowRefused):
            refused[row.line] = (row, checked.errors)
        else:
            valid.append((row, checked))
    by_line = {row.line: row for row, _ in batch}
    bulk_refused, left = (
        rows_apply_bulk(job=job, rows=valid, purposes=purposes) if BULK_PATH else ({}, [row for row, _ in valid])
    )
    refused |= {line: (by_line[line], errors) for line, errors in bulk_refused.items()}
    data = {row.line: validated for row, validated in valid}
    for row in left:
        try:
            _row_apply_settled(job=job, row=row, data=data[row.line], purposes=purposes)
        except RowRefused as refusal:
            refused[row.line] = (row, refusal.errors)
    return [refused[line] for line in sorted(refused)]


def _row_apply_settled(*, job: ImportJob, row: Row, data: dict, purposes: dict) -> None:
    """Apply the row in a savepoint; all of it or nothing. A concurrent import of the same
    user or consent loses on a unique index: the row is rolled back and matched again."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _row_apply(job=job, data=dict(data), purposes=purposes)
        except IntegrityError:
            if attempt == 2:
                raise RowRefused(
                    [{"path": "/", "message": "concurrent changes got in the way; send it again"}]
                ) from None
    raise AssertionError("unreachable")


def _row_apply(*, job: ImportJob, data: dict, purposes: dict) -> None:
    consents = data.pop("consents", [])
    uuid_, external_id = data.pop("uuid", None), data.pop("external_id", None)
    actor = Actor.client(job.client)
    try:
        user, _, _ = user_push(actor=actor, tenant=job.tenant, uuid=uuid_, external_id=external_id, profile=data)
    except UserNotKnown:
        raise RowRefused([{"path": "/uuid", "message": "your tenant knows no user with this uuid"}]) from None
    except UserPushConflict as conflict:
        raise RowRefused([{"path": "/", "message": str(conflict)}]) from None
    except ValidationError as error:
        raise RowRefused(error_paths(error, "")) from None
    for index, consent in enumerate(consents):
        _consent_apply(job=job, actor=actor, user=user, consent=consent, path=f"/consents/{index}", purposes=purposes)


def _consent_apply(*, job: ImportJob, actor: Actor, user, consent: dict, path: str, purposes: dict) -> None:
    slug = consent["purpose"]
    if slug not in purposes:
        purposes[slug] = Purpose.all_tenants.filter(tenant=job.tenant, slug=slug).first()
    if purposes[slug] is None:
        raise RowRefused([{"path": f"{path}/purpose", "message": "your tenant has no purpose of this name"}])
    try:
        consent_record_for_tenant(
            actor=actor,
            user=user,
            purpose=purposes[slug],
            action=consent["action"],
            client=job.client,
            hub_url=job.hub_url or hub_url(None),
            channel=Channel.IMPORT,
            source=consent["source"],
            occurred_at=consent["occurred_at"],
            version=consent.get("version") if consent["action"] == ConsentRecord.Action.GRANT else None,
        )
    except ValidationError as error:
        raise RowRefused(error_paths(error, path)) from None
