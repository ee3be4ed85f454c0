from django.urls import path
from rest_framework.routers import SimpleRouter

from consents.api.ingest import ConsentIngestViewSet
from consents.api.views import PurposeViewSet

router = SimpleRouter(trailing_slash=False)
router.register("purposes", PurposeViewSet, basename="purpose")

urlpatterns = [
    path("consents", ConsentIngestViewSet.as_view({"post": "create"}), name="consents"),
    *router.urls,
]
