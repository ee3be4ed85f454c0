from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django_filters.fields import IsoDateTimeField

from accounts.models import User
from consents.models import Consent

# Filters that read a profile field are allowed only where that field may be read:
# filtering by country reveals countries as surely as exporting them does.
FILTER_FIELDS = {"country": "address_country", "locale": "locale"}


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset ISO allows (up to ±23:59), cleaned to UTC: PostgreSQL refuses
    offsets beyond ±15:59, which would otherwise surface as a 5xx."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise ValidationError("is outside the years 1 to 9999 in UTC", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class UserExportFilter(django_filters.FilterSet):
    changed_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    consent_granted_since = UtcIsoDateTimeFilter(method="filter_consent_granted_since")
    country = django_filters.CharFilter(field_name="address_country", method="filter_country")
    locale = django_filters.CharFilter(field_name="locale")

    class Meta:
        model = User
        fields = []

    def __init__(self, *args, purpose, **kwargs):
        super().__init__(*args, **kwargs)
        self.purpose = purpose

    def filter_consent_granted_since(self, queryset, name, value):
        granted = Consent.all_tenants.filter(user=OuterRef("pk"), purpose=self.purpose, granted_at__gte=value)
        return queryset.filter(Exists(granted))

    def filter_country(self, queryset, name, value):
        return queryset.filter(address_country=value.upper())
