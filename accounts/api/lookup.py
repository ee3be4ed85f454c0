"""Look users up: one by uuid, or a batch by any identifier. Every answer is recorded."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api import serializers as s
from accounts.api.base import UserDataViewSet, query_parameters_check
from accounts.selectors import users_lookup, users_visible_for_purpose

PURPOSE = OpenApiParameter("purpose", str, required=True, description="The purpose you read the data for.")
FIELDS = OpenApiParameter(
    "fields", str, description="Comma-separated fields or categories (profile, email, phone, address); default all."
)

RETRIEVE_PARAMETERS = {"purpose", "fields", "format"}


def comma_list(value: str | None) -> list[str]:
    return value.split(",") if value else []


class UserLookupViewSet(UserDataViewSet):
    read_scopes = write_scopes = {"users:read"}
    lookup_field = "uuid"

    @extend_schema(parameters=[PURPOSE, FIELDS], responses=s.UserDataSerializer)
    def retrieve(self, request, uuid=None):
        """One user, if it consents to the purpose (404 otherwise, as for no such user)."""
        query_parameters_check(request, RETRIEVE_PARAMETERS)
        purpose = self.purpose_get(request.query_params.get("purpose"))
        fields = self.fields_for(purpose, comma_list(request.query_params.get("fields")))
        with self.recorded_read():
            row = users_visible_for_purpose(purpose=purpose).filter(uuid=uuid).values("id", *fields).first()
            if row is None:
                raise NotFound()
            self.record(purpose=purpose, action="users.retrieve", fields=fields, user_ids=[row.pop("id")])
        return Response(row)

    @extend_schema(request=s.LookupSerializer, responses=s.LookupResultSerializer)
    def batch(self, request):
        """Up to 1000 users named by uuid, email, phone number or your external id; those
        that name no one, or someone you may not see, are left out alike."""
        data = s.LookupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purpose = self.purpose_get(data.validated_data["purpose"])
        fields = self.fields_for(purpose, data.validated_data.get("fields"))
        identifiers = [
            {kind: str(value)} for item in data.validated_data["identifiers"] for kind, value in item.items()
        ]
        with self.recorded_read():
            matches = users_lookup(purpose=purpose, identifiers=identifiers, fields=fields)
            user_ids = [match["user"]["id"] for match in matches]
            self.record(purpose=purpose, action="users.lookup", fields=fields, user_ids=user_ids)
        for match in matches:
            match["user"] = {name: value for name, value in match["user"].items() if name != "id"}
        return Response({"results": matches})
