from django.db.models import QuerySet

from accounts.models import Membership, User
from consents.selectors import tenant_ids_with_current_consent
from tenants.models import Tenant


def user_by_uuid(*, uuid) -> User:
    return User.objects.get(uuid=uuid)


def tenants_related_to_user(*, user: User) -> QuerySet[Tenant]:
    """Tenants that know this user: it signed in to or was pushed by them, or consents to them."""
    member_of = Membership.all_tenants.filter(user=user).values_list("tenant_id", flat=True)
    consenting = tenant_ids_with_current_consent(user=user)
    return Tenant.objects.filter(pk__in=member_of.union(consenting)).order_by("pk")
