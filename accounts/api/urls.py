from django.urls import include, path

from accounts.api.export import UserExportViewSet
from accounts.api.ingest import UserPushViewSet
from accounts.api.lookup import UserLookupViewSet
from harbourmaster.api import converters  # noqa: F401  (registers <any_case_uuid:...>)

urlpatterns = [
    path("users", UserPushViewSet.as_view({"post": "create"}), name="users"),
    path("users/", include("accounts.api.imports")),
    path("users/guests", UserPushViewSet.as_view({"post": "guest"}), name="users-guests"),
    path("users/lookup", UserLookupViewSet.as_view({"post": "batch"}), name="users-lookup"),
    path("users/<any_case_uuid:uuid>", UserLookupViewSet.as_view({"get": "retrieve"}), name="user-detail"),
    path("purposes/<slug:slug>/users", UserExportViewSet.as_view({"get": "list"}), name="purpose-users"),
]
