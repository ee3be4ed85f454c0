from functools import cached_property
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from jwcrypto import jwk
from oauth2_provider.models import AbstractApplication, ApplicationManager
from oauth2_provider.settings import oauth2_settings

from harbourmaster.outbound import address_is_public
from harbourmaster.records import AppendOnlyModel
from tenants.key_encryption import private_key_decrypt
from tenants.scoping import TenantScopedManager


class Tenant(models.Model):
    """A subsidiary or one of its systems: owns clients, purposes and a config."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        # Offboarded for good: the row stays because records name it (decision 3).
        DELETED = "deleted", "Deleted"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    contact_email = models.EmailField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # What the tenant chose; defaults are laid under it by tenants.config.effective_config.
    config = models.JSONField(default=dict, blank=True)
    config_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TenantConfigRevision(AppendOnlyModel):
    """Every version a tenant's config has had, and who set it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="config_revisions")
    version = models.PositiveIntegerField()
    config = models.JSONField()
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "version"], name="tenant_config_version_unique")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.tenant_id} v{self.version}"


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _is_internal_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not address_is_public(host)
    except ValueError:
        return False  # a name: where it resolves to is checked when the hub connects (harbourmaster.outbound)


def backchannel_logout_uri_is_development_loopback(value: str) -> bool:
    """Whether the URI names a loopback receiver that development allows (decision 19): where
    redirect URIs may be http (``DEBUG``), a host spelled ``localhost``, ``127.0.0.1`` or ``::1``.
    A name that merely resolves to loopback is not one."""
    host = urlsplit(value).hostname or ""
    return "http" in oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES and host in LOOPBACK_HOSTS


def backchannel_logout_uri_validate(value: str) -> None:
    """An https address the hub may POST logout tokens to (Back-Channel Logout 1.0, 2.2).

    No fragment (the spec forbids one), no credentials (they would end up in logs), no
    internal address written as such. In development, where redirect URIs may be http,
    a loopback receiver may be too (decision 19).
    """
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ValidationError("must be a URL", code="invalid") from None
    development_loopback = backchannel_logout_uri_is_development_loopback(value)
    if parts.scheme != "https" and not (parts.scheme == "http" and development_loopback):
        raise ValidationError("must be an https URL", code="scheme")
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise ValidationError("must name a host, without credentials or a fragment", code="invalid")
    if _is_internal_host(host) and not development_loopback:
        raise ValidationError("must not be a loopback, private or link-local address", code="internal")


class Client(AbstractApplication):
    """An OAuth client of one tenant: django-oauth-toolkit's swapped application model.

    Its secrets live in ClientSecret (several may be active during a rotation); the
    inherited ``client_secret`` column stays empty. ``objects`` is global because
    django-oauth-toolkit resolves a client by its globally unique client_id before any
    tenant is known; tenant-facing code reads clients through ``Client.scoped``.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="clients")
    allowed_scopes = models.JSONField(default=list, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Every token of this client issued at or before this second is dead, also once the
    # client is enabled again: set by client_disable, kept by client_enable (decision 27).
    tokens_revoked_before = models.DateTimeField(null=True, blank=True)
    # OpenID Connect Back-Channel Logout 1.0: where the hub POSTs a logout token when a
    # hub session this client signed in through ends (accounts.oidc.backchannel).
    backchannel_logout_uri = models.URLField(max_length=2000, blank=True, validators=[backchannel_logout_uri_validate])
    # The client needs ``sid`` in logout tokens; the hub always sends it, so this is kept
    # as the client registered it (Back-Channel Logout 1.0, 2.2).
    backchannel_logout_session_required = models.BooleanField(default=False)

    objects = ApplicationManager()
    scoped = TenantScopedManager()

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        default_manager_name = "objects"
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "-id"], name="client_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.name or self.client_id} ({self.tenant_id})"

    def natural_key(self) -> tuple[str]:
        return (self.client_id,)

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def is_first_party(self) -> bool:
        return self.skip_authorization

    def is_usable(self, request) -> bool:
        return not self.is_disabled and super().is_usable(request)

    def token_revoked(self, *, issued: float) -> bool:
        """Whether a token of this client issued at ``issued`` (Unix seconds: a JWT's
        ``iat``, an opaque token's creation) died with a disable of the client. Whole
        seconds, as resource servers compare ``iat``: the disable's own second is refused."""
        revoked_before = self.tokens_revoked_before
        return revoked_before is not None and int(issued) <= int(revoked_before.timestamp())

    def clean(self) -> None:
        # django-oauth-toolkit refuses RS256 unless OIDC_RSA_PRIVATE_KEY is set; our
        # signing keys live in SigningKey instead, so validate the rest as if unsigned.
        algorithm, self.algorithm = self.algorithm, self.NO_ALGORITHM
        try:
            super().clean()
        finally:
            self.algorithm = algorithm

    @cached_property
    def jwk_key(self) -> jwk.JWK:
        """The key this client's ID tokens are signed with: the hub's current signing key.

        django-oauth-toolkit reads this twice per ID token (for the ``kid`` header and
        to sign), so it is held for the life of the instance — one request — and a
        rotation taking effect in between cannot split the two.
        """
        if self.algorithm == self.RS256_ALGORITHM:
            from tenants.keys import signing_key_current  # keys imports this module

            return signing_key_current().jwk
        return super().jwk_key


class ClientSession(models.Model):
    """A hub session in which this client got an ID token: whom to tell when it ends.

    Kept only for clients with a ``backchannel_logout_uri``; removed when the session
    ends (the logout tokens are then queued) or, for sessions that simply expired, by
    the periodic prune. ``hub_session_id`` is the session's own opaque id (never shown:
    each tenant sees a ``sid`` derived from it, see accounts.oidc.claims).
    """

    hub_session_id = models.CharField(max_length=64)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    signed_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hub_session_id", "client"], name="client_session_unique"),
        ]
        indexes = [models.Index(fields=["signed_in_at"], name="client_session_signed_in_idx")]

    def __str__(self) -> str:
        return f"{self.client_id} in {self.hub_session_id[:8]}…"


class ClientSecretQuerySet(models.QuerySet):
    def active(self) -> "ClientSecretQuerySet":
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=Now())
        )


class ClientSecret(models.Model):
    """One secret of a confidential client, stored only as a keyed hash.

    Several can be active at once, so that a rotation has an overlap: the old secret
    gets an ``expires_at`` and keeps working until then.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="secrets")
    secret_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the secret, so operators can tell secrets apart.
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager(tenant_field="client__tenant")
    all_tenants = ClientSecretQuerySet.as_manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.client_id})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}{'•' * 8}"

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)


class SigningKey(models.Model):
    """A key the hub signs tokens with; every client shares the current one of each algorithm.

    RS256 keys sign ID tokens, logout tokens and JWT access tokens; ES256 keys sign the JWT
    access tokens of tenants that chose ES256. A key is published in the JWKS from
    ``created_at``, signs from ``activated_at`` to ``retired_at``, and stays published
    after that until the last token it signed has expired (see tenants.keys). The private
    key is stored encrypted (tenants.key_encryption).
    """

    class Algorithm(models.TextChoices):
        RS256 = "RS256", "RSA with SHA-256"
        ES256 = "ES256", "ECDSA P-256 with SHA-256"

    # The RFC 7638 thumbprint of the public key, as django-oauth-toolkit names keys.
    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=8, choices=Algorithm.choices, default=Algorithm.RS256)
    # A Fernet token of the PEM, under SIGNING_KEY_ENCRYPTION_KEYS; never the PEM itself.
    private_key_encrypted = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["-activated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm})"

    @property
    def jwk(self) -> jwk.JWK:
        """The private key, decrypted once per process (tenants.key_encryption)."""
        return private_key_decrypt(self.private_key_encrypted)


# Split out to keep this module small; imported here so Django finds the model.
from tenants.models_idempotency import IdempotencyKey  # noqa: E402, F401
