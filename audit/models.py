from django.conf import settings
from django.db import models
from django.utils import timezone

from harbourmaster.records import AppendOnlyModel, AppendOnlyQuerySet
from tenants.scoping import TenantScopedManager


class AccessRecord(AppendOnlyModel):
    """One read of user data by a tenant: who, through which client, what, why, when.

    Written in the same transaction that serves the read: no record, no response.
    The users returned are in AccessRecordSubject, one row each, so a user's
    "who saw my data" view is one indexed lookup.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Kept as the slug the tenant declared, so a record stays readable as purposes change.
    purpose = models.CharField(max_length=63)
    action = models.CharField(max_length=63, help_text="What was read, e.g. users.export or users.lookup")
    fields = models.JSONField(default=list)
    subject_count = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(AppendOnlyQuerySet)()
    all_tenants = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["tenant", "-id"], name="accessrecord_tenant_idx"),
            models.Index(fields=["request_id"], name="accessrecord_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.tenant_id} for {self.purpose}"


class AccessRecordSubject(AppendOnlyModel):
    """A user whose data one AccessRecord returned."""

    record = models.ForeignKey(AccessRecord, on_delete=models.PROTECT, related_name="subjects")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = TenantScopedManager.from_queryset(AppendOnlyQuerySet)(tenant_field="record__tenant")
    all_tenants = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-record"], name="accesssubject_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.record_id}"
