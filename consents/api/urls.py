from rest_framework.routers import SimpleRouter

from consents.api.views import PurposeViewSet

router = SimpleRouter(trailing_slash=False)
router.register("purposes", PurposeViewSet, basename="purpose")

urlpatterns = router.urls
