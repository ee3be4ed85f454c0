from datetime import UTC

import django_filters
from django.db.models import Exists, OuterRef

from accounts.models import User
from consents.models import Consent

# Filters that read a profile field are allowed only where that field may be read:
# filtering by country reveals countries as surely as exporting them does.
FILTER_FIELDS = {"country": "address_country", "locale": "locale"}


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset ISO allows (up to ±23:59), handed to the database in UTC:
    PostgreSQL refuses offsets beyond ±15:59, which would otherwise surface as a 5xx."""

    def filter(self, queryset, value):
        return super().filter(queryset, _utc(value))


def _utc(value):
    return value.astimezone(UTC) if value is not None else None


class UserExportFilter(django_filters.FilterSet):
    changed_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    consent_granted_since = django_filters.IsoDateTimeFilter(method="filter_consent_granted_since")
    country = django_filters.CharFilter(field_name="address_country", method="filter_country")
    locale = django_filters.CharFilter(field_name="locale")

    class Meta:
        model = User
        fields = []

    def __init__(self, *args, purpose, **kwargs):
        super().__init__(*args, **kwargs)
        self.purpose = purpose

    def filter_consent_granted_since(self, queryset, name, value):
        granted = Consent.all_tenants.filter(user=OuterRef("pk"), purpose=self.purpose, granted_at__gte=_utc(value))
        return queryset.filter(Exists(granted))

    def filter_country(self, queryset, name, value):
        return queryset.filter(address_country=value.upper())
