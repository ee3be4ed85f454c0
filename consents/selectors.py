from django.db.models import F, QuerySet

from consents.models import Consent, Purpose
from tenants.models import Tenant


def current_consents() -> QuerySet[Consent]:
    """Consents that count now: granted, to an active purpose of a tenant that still
    exists, at a version still honoured."""
    return Consent.all_tenants.filter(
        state=Consent.State.GRANTED,
        purpose__status=Purpose.Status.ACTIVE,
        version__version__gte=F("purpose__reconsent_from_version"),
    ).exclude(tenant__status=Tenant.Status.DELETED)


def consent_is_current(*, user, purpose: Purpose) -> bool:
    return current_consents().filter(user=user, purpose=purpose).exists()


def user_ids_with_current_consent(*, purpose: Purpose) -> QuerySet:
    return current_consents().filter(purpose=purpose).values_list("user_id", flat=True)


def purposes_of_current_tenant() -> QuerySet[Purpose]:
    return Purpose.objects.order_by("slug")


def tenant_ids_with_current_consent(*, user) -> QuerySet:
    return current_consents().filter(user=user).values_list("tenant_id", flat=True).distinct()
