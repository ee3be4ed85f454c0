import uuid

from django.db import models
from django.utils import timezone

from harbourmaster.records import AppendOnlyModel, AppendOnlyQuerySet
from tenants.scoping import TenantScopedManager


class Event(AppendOnlyModel):
    """The transactional outbox: one change one tenant should hear of.

    Written in the same transaction as the change it describes, then delivered to the
    tenant's webhooks and kept for its change feed (the id is the feed's cursor).
    The payload is built by the service that made the change; this app knows no
    domain model.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Indexed by event_tenant_feed_idx, which it leads (docs/decisions/0029).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    type = models.CharField(max_length=63, help_text="e.g. consent.granted, user.updated")
    subject = models.CharField(max_length=64, blank=True, help_text="The user's uuid (or other id) the event is about")
    payload = models.JSONField(default=dict)
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(AppendOnlyQuerySet)()
    all_tenants = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "id"], name="event_tenant_feed_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.subject} → {self.tenant_id}"
