from django.conf import settings
from django.db import models
from django.utils import timezone

from harbourmaster.records import AppendOnlyModel, AppendOnlyQuerySet
from tenants.scoping import TenantScopedManager

# The OpenID Connect scopes that name data categories; a purpose needs some of them.
DATA_CATEGORIES = ("profile", "email", "phone", "address")


class LegalBasis(models.TextChoices):
    """GDPR Art. 6(1)."""

    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"


class Purpose(models.Model):
    """What a tenant uses data for, e.g. "postal-marketing", and the categories it needs."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="purposes")
    slug = models.SlugField(max_length=63)
    name = models.CharField(max_length=200)
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices, default=LegalBasis.CONSENT)
    data_categories = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    current_version = models.PositiveIntegerField(default=1)
    # Consents to versions below this one no longer count: users must be asked again.
    reconsent_from_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["tenant_id", "slug"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="purpose_slug_unique_in_tenant")]

    def __str__(self) -> str:
        return f"{self.slug} ({self.tenant_id})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class PurposeVersion(AppendOnlyModel):
    """One published statement of a purpose: the text a user agrees to. Never rewritten."""

    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    statement = models.TextField()
    statement_hash = models.CharField(max_length=64, help_text="SHA-256 of the statement text")
    # Whether users who agreed to an earlier version must be asked again.
    requires_reconsent = models.BooleanField(default=False)
    actor = models.CharField(max_length=200)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["purpose_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["purpose", "version"], name="purpose_version_unique")]

    def __str__(self) -> str:
        return f"{self.purpose_id} v{self.version}"


class Consent(models.Model):
    """The current state of one user's consent to one purpose."""

    class State(models.TextChoices):
        GRANTED = "granted", "Granted"
        WITHDRAWN = "withdrawn", "Withdrawn"
        # A tenant said the user agreed, but the user has no first-hand relation with the
        # tenant yet: it counts once the user confirms (docs/decisions/0035).
        PENDING = "pending", "Awaiting the user's confirmation"

    # No single-column indexes on the foreign keys: each of tenant, user and purpose leads a
    # composite index or constraint below, and versions are never deleted (docs/decisions/0029).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents", db_index=False
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="consents", db_index=False)
    state = models.CharField(max_length=16, choices=State.choices)
    version = models.ForeignKey(PurposeVersion, on_delete=models.PROTECT, related_name="+", db_index=False)
    granted_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["user", "purpose"], name="consent_user_purpose_unique")]
        indexes = [
            models.Index(fields=["purpose", "state", "user"], name="consent_purpose_state_idx"),
            models.Index(fields=["tenant", "updated_at"], name="consent_tenant_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.state} {self.purpose_id}"

    @property
    def is_granted(self) -> bool:
        return self.state == self.State.GRANTED


class Channel(models.TextChoices):
    WEB = "web", "Web page"
    APP = "app", "App"
    API = "api", "Tenant API"
    IMPORT = "import", "Bulk import"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    PAPER = "paper", "Paper"
    ADMIN = "admin", "Staff in the admin"


class ConsentRecord(AppendOnlyModel):
    """Proof of one grant or withdrawal. Written with the change, never changed."""

    class Action(models.TextChoices):
        GRANT = "grant", "Grant"
        WITHDRAW = "withdraw", "Withdraw"

    # Indexed: tenant (the admin's tenant filter) and client (a client's deletion looks for
    # its records). user and purpose lead the indexes below; versions are never deleted.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consent_records", db_index=False
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="records", db_index=False)
    version = models.ForeignKey(PurposeVersion, on_delete=models.PROTECT, related_name="+", db_index=False)
    statement_hash = models.CharField(max_length=64)
    action = models.CharField(max_length=16, choices=Action.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    source = models.CharField(max_length=200, blank=True, help_text="Where it happened, e.g. newsletter-form")
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.CharField(max_length=200)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField(help_text="When the user gave or withdrew consent")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(AppendOnlyQuerySet)()
    all_tenants = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-id"], name="consentrecord_user_idx"),
            models.Index(fields=["purpose", "-id"], name="consentrecord_purpose_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.purpose_id} by {self.user_id}"
