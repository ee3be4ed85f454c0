from enum import StrEnum
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from accounts.models import CATEGORY_FIELDS, Membership, User, normalize_email
from consents.models import Consent, LegalBasis, Purpose
from consents.selectors import current_consents, tenant_ids_with_current_consent
from tenants.models import Tenant
from tenants.selectors import tenant_effective_config


def user_by_uuid(*, uuid) -> User:
    return User.objects.get(uuid=uuid)


def tenants_related_to_user(*, user: User) -> QuerySet[Tenant]:
    """Tenants that know this user: it signed in to or was pushed by them, or consents to them."""
    member_of = Membership.all_tenants.filter(user=user).values_list("tenant_id", flat=True)
    consenting = tenant_ids_with_current_consent(user=user)
    return Tenant.objects.filter(pk__in=member_of.union(consenting)).order_by("pk")


# --- What a tenant may read about users (docs/decisions/0009-user-data-visibility.md) ---


def purpose_readable_fields(*, purpose: Purpose) -> tuple[str, ...]:
    """The fields a read for ``purpose`` may return: the purpose's data categories, within
    the OIDC scopes the tenant's config allows its clients (machine clients carry API
    scopes only, so the tenant's ceiling is the one that applies). ``uuid`` always."""
    ceiling = set(tenant_effective_config(tenant=purpose.tenant)["allowed_scopes"])
    categories = [name for name in CATEGORY_FIELDS if name in purpose.data_categories and name in ceiling]
    return ("uuid", *(field for name in categories for field in CATEGORY_FIELDS[name]))


def users_visible_for_purpose(*, purpose: Purpose) -> QuerySet[User]:
    """Users whose data the purpose's tenant may read for it: those with a current consent
    to it; for a purpose on another legal basis (contract, ...) also those who signed in
    to one of the tenant's clients. Pushed or imported memberships never open a user. A
    retired purpose opens nobody, whatever its legal basis."""
    if not purpose.is_active:
        return User.objects.none()
    visible = Q(pk__in=current_consents().filter(purpose=purpose).values("user_id"))
    if purpose.legal_basis != LegalBasis.CONSENT:
        signed_in = Membership.all_tenants.filter(tenant_id=purpose.tenant_id, source=Membership.Source.SIGN_IN)
        visible |= Q(pk__in=signed_in.values("user_id"))
    return User.objects.filter(visible, is_active=True)


def user_ids_visible_for_purpose(*, purpose: Purpose) -> QuerySet | None:
    """The ids of ``users_visible_for_purpose``, read from the consents: those current for
    the purpose, less inactive users. Half the database time of the users query for a
    large export (an anti-join against the few inactive users instead of a semi-join of
    every user against every consent). None for a purpose on another legal basis."""
    if purpose.legal_basis != LegalBasis.CONSENT:
        return None
    inactive = User.objects.filter(pk=OuterRef("user_id"), is_active=False)
    return current_consents().filter(purpose=purpose).filter(~Exists(inactive)).values_list("user_id", flat=True)


def users_recorded_for_stream(*, user_ids) -> QuerySet[User]:
    """The users a stream sends: those its committed AccessRecord names (``user_ids``, a
    subquery), less any deactivated since. Consent is not checked again: the record was
    taken from the visible users a moment before (docs/decisions/0023)."""
    return User.objects.filter(pk__in=user_ids, is_active=True)


def users_known_to_tenant(*, tenant: Tenant) -> QuerySet[User]:
    """Users a tenant may address by uuid in its writes: its members and its consenters."""
    members = Membership.all_tenants.filter(tenant=tenant).values("user_id")
    consenting = current_consents().filter(tenant=tenant).values("user_id")
    return User.objects.filter(Q(pk__in=members) | Q(pk__in=consenting))


class Standing(StrEnum):
    """How a tenant stands to a user, which decides how far its word goes (decision 35)."""

    OWN = "own"  # its systems made the account, no one has signed in or set a password, no other tenant holds it
    # It made the account, or the user signed in to it (or staff linked them). A consent the
    # user confirmed opens its own purpose only: it makes no tenant first-hand.
    FIRST_HAND = "first_hand"
    STRANGER = "stranger"


def _standing_conditions(tenant: Tenant) -> tuple[Q, Q]:
    """(own, first-hand) as conditions on users, for one query over many."""
    memberships = Membership.all_tenants.filter(tenant=tenant, user=OuterRef("pk"))
    made = memberships.filter(created_account=True)
    met = memberships.filter(source__in=(Membership.Source.SIGN_IN, Membership.Source.ADMIN))
    elsewhere_member = Membership.all_tenants.filter(user=OuterRef("pk")).exclude(tenant=tenant)
    elsewhere_consent = Consent.all_tenants.filter(user=OuterRef("pk")).exclude(tenant=tenant)
    # Nobody has signed in to it, nor can without an address (no password was ever set).
    untouched = Q(last_login__isnull=True, password__startswith=UNUSABLE_PASSWORD_PREFIX)
    own = Exists(made) & untouched & ~Exists(elsewhere_member) & ~Exists(elsewhere_consent)
    return own, Exists(made) | Exists(met)


def users_standing_with_tenant(*, tenant: Tenant, user_ids) -> dict[int, Standing]:
    """How ``tenant`` stands to each of ``user_ids`` (a list, or a subquery of ids): its own
    accounts, users it made or who signed in to it, strangers. One query."""
    own, first_hand = _standing_conditions(tenant)
    found = User.objects.filter(pk__in=user_ids).annotate(
        own=ExpressionWrapper(own, output_field=BooleanField()),
        first_hand=ExpressionWrapper(first_hand, output_field=BooleanField()),
    )
    return {
        pk: Standing.OWN if is_own else Standing.FIRST_HAND if is_first_hand else Standing.STRANGER
        for pk, is_own, is_first_hand in found.values_list("pk", "own", "first_hand")
    }


def user_standing_with_tenant(*, user: User, tenant: Tenant) -> Standing:
    return users_standing_with_tenant(tenant=tenant, user_ids=[user.pk]).get(user.pk, Standing.STRANGER)


def user_claimable_by_tenant(*, user: User, field: str, tenant: Tenant) -> bool:
    """Whether a tenant may name this user by an address (email or phone) it supplies: the
    address is verified, or the tenant already knows the user (e.g. its own earlier push).
    Otherwise anyone could attach themselves to an account by typing its address."""
    verified = user.email_verified if field == "email" else user.phone_number_verified
    return verified or Membership.all_tenants.filter(tenant=tenant, user=user).exists()


def user_by_tenant_identifier(*, tenant: Tenant, identifier: dict[str, Any]) -> User | None:
    """The user a tenant names in a write by ``uuid`` (among those it knows), its own
    ``external_id``, or a claimable ``email`` or ``phone_number``; None if it may name none."""
    ((kind, value),) = identifier.items()
    if kind == "uuid":
        return users_known_to_tenant(tenant=tenant).filter(uuid=value).first()
    if kind == "external_id":
        return User.objects.filter(memberships__tenant=tenant, memberships__external_id=value).first()
    user = User.objects.filter(**{kind: normalize_email(value) if kind == "email" else value}).first()
    return user if user and user_claimable_by_tenant(user=user, field=kind, tenant=tenant) else None


def identifiers_filter(identifiers: list[dict[str, Any]], *, tenant: Tenant) -> Q:
    """One query for a batch of identifiers (each a one-key dict)."""
    values: dict[str, set] = {"uuid": set(), "email": set(), "phone_number": set(), "external_id": set()}
    for identifier in identifiers:
        ((kind, value),) = identifier.items()
        values[kind].add(normalize_email(value) if kind == "email" else value)
    external = Membership.all_tenants.filter(tenant=tenant, external_id__in=values["external_id"])
    return (
        Q(uuid__in=values["uuid"])
        | Q(email__in=values["email"])
        | Q(phone_number__in=values["phone_number"])
        | Q(pk__in=external.values("user_id"))
    )


def users_lookup(*, purpose: Purpose, identifiers: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict]:
    """Each identifier that names a user visible for ``purpose``: its position, itself, and
    the user's ``id`` (for the access record) and ``fields``. Identifiers that name no one
    and those that name someone the tenant may not see are left out alike."""
    tenant = purpose.tenant
    rows = users_visible_for_purpose(purpose=purpose).filter(identifiers_filter(identifiers, tenant=tenant))
    found = list(rows.values(*dict.fromkeys(("id", "uuid", "email", "phone_number", *fields))))
    external_ids = dict(
        Membership.all_tenants.filter(tenant=tenant, user_id__in=[row["id"] for row in found])
        .exclude(external_id=None)
        .values_list("user_id", "external_id")
    )
    index = {}
    for row in found:
        keys = {"uuid": str(row["uuid"]), "email": row["email"], "phone_number": row["phone_number"]}
        keys["external_id"] = external_ids.get(row["id"])
        selected = {"id": row["id"], **{name: row[name] for name in fields}}
        index.update({(kind, value): selected for kind, value in keys.items() if value})
    matches = []
    for position, identifier in enumerate(identifiers):
        ((kind, value),) = identifier.items()
        row = index.get((kind, normalize_email(value) if kind == "email" else str(value)))
        if row is not None:
            matches.append({"index": position, "identifier": identifier, "user": row})
    return matches
