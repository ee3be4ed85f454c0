from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api.views import ClientViewSet, OperatorTenantViewSet, OwnTenantViewSet, TenantConfigViewSet

router = SimpleRouter(trailing_slash=False)
router.register("clients", ClientViewSet, basename="client")
router.register("tenants", OperatorTenantViewSet, basename="operator-tenant")

urlpatterns = [
    path("tenant", OwnTenantViewSet.as_view({"get": "retrieve", "patch": "partial_update"}), name="tenant"),
    path(
        "tenant/config",
        TenantConfigViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update"}),
        name="tenant-config",
    ),
    path("tenant/config/revisions", TenantConfigViewSet.as_view({"get": "revisions"}), name="tenant-config-revisions"),
    *router.urls,
]
