"""Bulk imports of users and their consents: the upload, its progress and its row errors."""

import uuid

from django.db import models

from tenants.scoping import TenantScopedManager


class ImportJob(models.Model):
    """One uploaded file of users, worked through row by row by a Celery task.

    ``last_line`` is committed in the same transaction as the row it names, so a worker
    that dies resumes after the last row that took effect and never applies one twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    # The client that uploaded: the proof client of every consent the import records.
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    actor = models.CharField(max_length=200)
    # The hub's address as the upload reached it: the base of the links in the messages the
    # import sends (a consent to confirm, docs/decisions/0035), where OIDC_ISSUER is unset.
    hub_url = models.CharField(max_length=200, blank=True, default="", db_default="")
    format = models.CharField(max_length=8, choices=Format.choices)
    # The upload as sent; emptied once the job is done (it holds personal data).
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    last_line = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Set by the worker that claimed the job; progress is only written under it.
    claim = models.UUIDField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="import_job_status_idx")]

    def __str__(self) -> str:
        return f"import {self.uuid} ({self.status})"


class ImportRowError(models.Model):
    """Why one row of an import was not applied; nothing of that row was written."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    errors = models.JSONField(help_text='[{"path": JSON Pointer or CSV column, "message": ...}]')

    class Meta:
        ordering = ["job_id", "line"]
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="import_row_error_unique_line")]

    def __str__(self) -> str:
        return f"{self.job_id} line {self.line}"
