from django.contrib import admin
from django.urls import include, path

from harbourmaster import health
from tenants.views import tenant_config_schema

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("schemas/tenant-config.json", tenant_config_schema, name="tenant-config-schema"),
    path("admin/", admin.site.urls),
    path("api/", include("harbourmaster.api.urls")),
    path("accounts/", include("accounts.signin.urls")),  # guest sign-in (accounts/signin/guest.py)
    path("accounts/", include("allauth.urls")),
    path("consents/", include("accounts.confirmations.urls")),  # a tenant's word, confirmed (decision 35)
    # OpenID Connect provider: /o/… endpoints and /.well-known/… documents.
    path("", include("accounts.oidc.urls")),
]
