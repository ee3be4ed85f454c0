import django_filters
from django.db.models import Exists, OuterRef

from accounts.models import User
from consents.models import Consent

# Filters that read a profile field are allowed only where that field may be read:
# filtering by country reveals countries as surely as exporting them does.
FILTER_FIELDS = {"country": "address_country", "locale": "locale"}


class UserExportFilter(django_filters.FilterSet):
    changed_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
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
        granted = Consent.all_tenants.filter(user=OuterRef("pk"), purpose=self.purpose, granted_at__gte=value)
        return queryset.filter(Exists(granted))

    def filter_country(self, queryset, name, value):
        return queryset.filter(address_country=value.upper())
