"""Idempotency keys: the first answer to a tenant's write, kept so a retry gets it again.

Lives in ``tenants`` (the floor of the layering) because a key belongs to the client that
sent it; ``harbourmaster.api.idempotency`` is the only code that reads or writes it.
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` a client sent, what it was sent with, and what it got back."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey("tenants.Client", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and canonical JSON body: the same key with another request
    # is a client bug to report, not a retry to answer.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    # The answer's headers a client may act on (Location of what the write created). The
    # database's default too: processes of the previous release, still serving while one is
    # rolled out, insert rows without the column.
    response_headers = models.JSONField(
        default=dict, db_default=models.Value({}, output_field=models.JSONField()), blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.client_id})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
