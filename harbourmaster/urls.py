from django.contrib import admin
from django.urls import include, path

from harbourmaster import health
from tenants.views import tenant_config_schema

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("schemas/tenant-config.json", tenant_config_schema, name="tenant-config-schema"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
