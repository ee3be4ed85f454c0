import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from tenants.scoping import TenantScopedManager

e164_validator = RegexValidator(r"^\+[1-9][0-9]{6,14}$", "Enter a phone number in E.164 form, e.g. +4930123456.")


def normalize_email(email: str | None) -> str | None:
    """One spelling per address: trimmed and lower-cased, so it is unique as stored."""
    if not email:
        return None
    return email.strip().lower()


class UserManager(BaseUserManager):
    def get_by_natural_key(self, username):
        return self.get(email=normalize_email(username))

    def create_user(self, email=None, password=None, **fields):
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password, **fields):
        fields.update(is_staff=True, is_superuser=True, email_verified=True)
        return self.create_user(email=email, password=password, **fields)


# The profile columns each data category (OIDC scope) opens: the OpenID Connect standard
# claims (Core 1.0, 5.1), the address claim as its columns. One vocabulary serves ID
# tokens, userinfo, the export API (its CSV header and filters) and the GDPR download.
CATEGORY_FIELDS = {
    "profile": (
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "picture",
        "website",
        "profile",
    ),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address_street", "address_locality", "address_region", "address_postal_code", "address_country"),
}
PROFILE_FIELDS = tuple(field for fields in CATEGORY_FIELDS.values() for field in fields)


class User(AbstractBaseUser, PermissionsMixin):
    """One person across every tenant: one identity, one profile, one consent ledger."""

    class Kind(models.TextChoices):
        REGISTERED = "registered", "Registered"
        GUEST = "guest", "Guest"

    id = models.BigAutoField(primary_key=True)
    # The global identifier every tenant shares: the OIDC ``sub`` (unless pairwise).
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REGISTERED)

    email = models.EmailField(unique=True, null=True, blank=True)
    email_verified = models.BooleanField(default=False)
    phone_number = models.CharField(
        max_length=16,
        unique=True,
        null=True,
        blank=True,
        validators=[e164_validator],
        help_text="E.164, e.g. +4930123456",
    )
    phone_number_verified = models.BooleanField(default=False)

    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    middle_name = models.CharField(max_length=150, blank=True)
    nickname = models.CharField(max_length=150, blank=True)
    preferred_username = models.CharField(max_length=150, blank=True)
    gender = models.CharField(max_length=32, blank=True)
    birthdate = models.DateField(null=True, blank=True)
    zoneinfo = models.CharField(max_length=64, blank=True)
    locale = models.CharField(max_length=16, blank=True)
    picture = models.URLField(max_length=500, blank=True)
    website = models.URLField(max_length=500, blank=True)
    profile = models.URLField(max_length=500, blank=True)

    # The OIDC address claim, kept as columns so exports can filter by country.
    address_street = models.CharField(max_length=300, blank=True)
    address_locality = models.CharField(max_length=150, blank=True)
    address_region = models.CharField(max_length=150, blank=True)
    address_postal_code = models.CharField(max_length=20, blank=True)
    address_country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")

    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    # A guest's device: the SHA-256 of its device cookie (accounts/signin/guest.py).
    guest_device_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # A guest that became part of a registered account (accounts/merge.py): the row stays.
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_guests", editable=False
    )
    merged_at = models.DateTimeField(null=True, blank=True, editable=False)
    merged_by = models.CharField(max_length=200, blank=True, editable=False)
    # Part of the session hash: raising it ends every hub session of the user at once
    # (accounts.services.user_sign_out_everywhere), as a new password does.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    def _get_session_auth_hash(self, secret=None):
        # Django's, over the password *and* the session generation: a new password, or staff
        # signing the user out everywhere, invalidates every session holding the old hash.
        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="guest") | models.Q(email__isnull=False) | models.Q(phone_number__isnull=False),
                name="registered_user_has_identifier",
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True) | models.Q(kind="guest"), name="only_guests_are_merged"
            ),
        ]
        indexes = [models.Index(fields=["family_name", "given_name"], name="user_name_idx")]

    def __str__(self) -> str:
        return self.email or self.phone_number or f"guest {self.uuid}"

    def clean(self):
        super().clean()
        self.email = normalize_email(self.email)
        self.phone_number = self.phone_number or None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.given_name, self.middle_name, self.family_name) if part)

    @property
    def is_guest(self) -> bool:
        return self.kind == self.Kind.GUEST


class Membership(models.Model):
    """A user's relation to one tenant: signed in to its client, or pushed by its systems.

    Holds the tenant's own identifier for the user (``external_id``), unique per tenant.
    """

    class Source(models.TextChoices):
        SIGN_IN = "sign_in", "Signed in"
        API = "api", "Pushed over the API"
        IMPORT = "import", "Imported"
        ADMIN = "admin", "Added by staff"

    # Indexed by the two unique constraints, which it leads (docs/decisions/0029).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="memberships", db_index=False)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    external_id = models.CharField(max_length=200, null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # The tenant's systems made the account for this membership (a push, an import, a
    # consent-cookie guest; not a person's sign-up at its pages). Its word about the user
    # goes further (decision 35).
    created_account = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_unique"),
            models.UniqueConstraint(fields=["tenant", "external_id"], name="membership_external_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.tenant_id}"


from accounts.imports.models import ImportJob, ImportRowError  # noqa: E402, F401  (registers the import models)
from accounts.oidc.models import RequestedUserinfoClaims  # noqa: E402, F401  (registers the provider's own rows)
