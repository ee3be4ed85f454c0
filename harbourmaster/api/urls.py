from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from harbourmaster.api import schema  # noqa: F401  (registers the authentication scheme)

urlpatterns = [
    path("v1/", include("tenants.api.urls")),
    path("v1/", include("consents.api.urls")),
    path("v1/", include("accounts.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
