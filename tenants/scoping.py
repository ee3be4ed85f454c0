"""One scoped path to tenant-owned rows.

Tenant-owned models declare ``objects = TenantScopedManager()``: every query through it
is limited to the tenant in ``tenant_context`` and raises ``NoTenantContext`` when there
is none. Reading across tenants is a named, visible exception: ``Model.objects.unscoped()``.
Django's own machinery (admin, related managers, unique checks) uses the model's
plain default manager, named ``all_tenants`` in each model's Meta.
"""

from django.db import models

from tenants.context import current_tenant


class TenantScopedManager(models.Manager):
    def __init__(self, tenant_field: str = "tenant"):
        super().__init__()
        self.tenant_field = tenant_field

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(**{self.tenant_field: current_tenant()})

    def unscoped(self) -> models.QuerySet:
        return super().get_queryset()
