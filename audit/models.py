import json

from django.conf import settings
from django.db import models
from django.db.models import Lookup
from django.utils import timezone

from harbourmaster.records import AppendOnlyModel, AppendOnlyQuerySet
from tenants.scoping import TenantScopedManager


class AccessRecord(AppendOnlyModel):
    """One read of user data by a tenant: who, through which client, what, why, when.

    Written in the same transaction that serves the read: no record, no response.
    The users a page or a lookup returned are in AccessRecordSubject, one row each; the
    users a stream may send (up to millions) are in AccessRecordSubjectBlock, thousands a
    row (docs/decisions/0009). Either way a user's "who saw my data" view is an indexed
    lookup: audit.selectors.access_records_for_user.
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
    """A user whose data one AccessRecord returned (a page or a lookup: at most a page of them)."""

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


# A block holds the ids of one span of BLOCK_SPAN consecutive user ids: its span is
# ``user_ids[1] / BLOCK_SPAN``, which a b-tree indexes (migration 0003). Changing it
# needs a new index expression and leaves older blocks findable only under the old one.
BLOCK_SPAN = 10_000


class UserIds(models.Field):
    """A list of user ids: ``bigint[]`` on PostgreSQL; a JSON list in text elsewhere
    (SQLite records streams as subject rows)."""

    description = "A list of user ids"

    def db_type(self, connection) -> str:
        return "bigint[]" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value, expression, connection):
        return json.loads(value) if isinstance(value, str) else value

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        return list(value) if connection.vendor == "postgresql" else json.dumps(list(value))


@UserIds.register_lookup
class UserIdsContain(Lookup):
    """``user_ids__contains=[id]``: the blocks whose list holds every id given.

    On PostgreSQL the span of the ids picks the candidate blocks through the b-tree on
    ``user_ids[1] / BLOCK_SPAN`` (one block per stream that covered the span); ``@>``
    then checks the few lists found. Ids of different spans are never in one block."""

    lookup_name = "contains"

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        spans = sorted({int(user_id) // BLOCK_SPAN for user_id in self.rhs})
        in_span = " AND ".join([f"({lhs}[1] / {BLOCK_SPAN}) = %s"] * len(spans)) or "TRUE"
        span_params = [param for span in spans for param in (*lhs_params, span)]
        return f"{in_span} AND {lhs} @> ({rhs})::bigint[]", [*span_params, *lhs_params, *rhs_params]

    def as_sql(self, compiler, connection):
        # Elsewhere the list is JSON text: each id must be one of its values.
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = [int(user_id) for user_id in self.rhs]
        held = [f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE value = %s)"] * len(ids)  # noqa: S608 (lhs is a column)
        return " AND ".join(held) or "1 = 1", [param for user_id in ids for param in (*lhs_params, user_id)]


class AccessRecordSubjectBlock(AppendOnlyModel):
    """Users a stream's AccessRecord names, thousands a row (those whose ids share
    ``id // BLOCK_SPAN``). One row per user costs a b-tree insert per user before the
    first byte; a block costs one heap row (its list compressed with lz4) and one entry
    in the b-tree of spans (docs/decisions/0023)."""

    record = models.ForeignKey(AccessRecord, on_delete=models.PROTECT, related_name="subject_blocks")
    user_ids = UserIds()

    objects = TenantScopedManager.from_queryset(AppendOnlyQuerySet)(tenant_field="record__tenant")
    all_tenants = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{len(self.user_ids)} users in {self.record_id}"
