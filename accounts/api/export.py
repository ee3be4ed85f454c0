"""Export the users who consent to one of the caller's purposes: pages of JSON, or one
streamed JSON Lines / CSV body. Either way the read is recorded before data leaves."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer

from accounts.api import serializers as s
from accounts.api.base import FieldsNotAllowed, UserDataViewSet, query_parameters_check
from accounts.api.filters import FILTER_FIELDS, UserExportFilter
from accounts.api.lookup import FIELDS, comma_list
from accounts.api.streaming import STREAM_FORMATS, CSVRenderer, JSONLinesRenderer, recorded_stream_body
from accounts.selectors import purpose_readable_fields, user_ids_visible_for_purpose, users_visible_for_purpose
from audit.services import access_record_for_query
from consents.models import Purpose
from harbourmaster.api.errors import InvalidInput
from harbourmaster.api.pagination import IdCursorPagination

EXPORT_PARAMETERS = [
    FIELDS,
    OpenApiParameter(
        "format", str, enum=["json", "jsonl", "csv"], description="Or send Accept: application/x-ndjson or text/csv."
    ),
    OpenApiParameter("changed_since", OpenApiTypes.DATETIME, description="Profile changed at or after."),
    OpenApiParameter("consent_granted_since", OpenApiTypes.DATETIME, description="Consent granted at or after."),
    OpenApiParameter("country", str, description="ISO 3166-1 alpha-2 (needs the address category)."),
    OpenApiParameter("locale", str, description="Needs the profile category."),
    OpenApiParameter("cursor", str),
    OpenApiParameter("page_size", int),
]
KNOWN_PARAMETERS = {parameter.name for parameter in EXPORT_PARAMETERS}


class ExportPagination(IdCursorPagination):
    # Ascending ids: users who newly consent land on later pages, not before the cursor.
    ordering = "id"


class UserExportViewSet(UserDataViewSet):
    read_scopes = write_scopes = {"users:read"}
    renderer_classes = [JSONRenderer, JSONLinesRenderer, CSVRenderer]
    pagination_class = ExportPagination

    @extend_schema(
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "application/json"): s.UserPageSerializer,
            (200, JSONLinesRenderer.media_type): OpenApiTypes.STR,
            (200, CSVRenderer.media_type): OpenApiTypes.STR,
        },
    )
    def list(self, request, slug=None):
        """Users with a current consent to the purpose, with the fields it allows."""
        query_parameters_check(request, KNOWN_PARAMETERS)
        purpose = self.purpose_get(slug, path="/slug")
        fields = self.fields_for(purpose, comma_list(request.query_params.get("fields")))
        users = self._filtered(purpose)
        if request.accepted_renderer.format in STREAM_FORMATS:
            return self._stream(purpose, fields, users, request.accepted_renderer.format)
        with self.recorded_read():
            page = self.paginate_queryset(users.values("id", *fields))
            self.record(purpose=purpose, action="users.export", fields=fields, user_ids=[row["id"] for row in page])
        return self.get_paginated_response([{name: row[name] for name in fields} for row in page])

    def _filtered(self, purpose: Purpose):
        params = self.request.query_params
        readable = purpose_readable_fields(purpose=purpose)
        refused = sorted(name for name, field in FILTER_FIELDS.items() if name in params and field not in readable)
        if refused:
            raise FieldsNotAllowed(f"This purpose may not filter by: {', '.join(refused)}.")
        filterset = UserExportFilter(params, queryset=users_visible_for_purpose(purpose=purpose), purpose=purpose)
        if not filterset.is_valid():
            errors = filterset.errors.items()
            raise InvalidInput([{"path": f"/{name}", "message": str(m)} for name, messages in errors for m in messages])
        return filterset.qs

    def _user_ids(self, purpose: Purpose, users):
        """The ids of the (filtered) visible users; without a filter, read from the consents."""
        unfiltered = not set(self.request.query_params) & set(UserExportFilter.base_filters)
        from_consents = user_ids_visible_for_purpose(purpose=purpose) if unfiltered else None
        return users.values_list("id", flat=True) if from_consents is None else from_consents

    def _stream(self, purpose: Purpose, fields: tuple[str, ...], users, format_name: str) -> StreamingHttpResponse:
        """The record, with every user to be sent, is committed before the first byte; the
        stream then sends exactly those users, reading the record's ids rather than
        evaluating visibility a second time (docs/decisions/0009, 0023)."""
        with self.recorded_read():
            record = access_record_for_query(
                tenant=self.caller.tenant,
                client=self.caller.client,
                purpose=purpose.slug,
                action="users.export",
                fields=list(fields),
                user_ids=self._user_ids(purpose, users),
                request_id=self.request_id,
            )
        body = recorded_stream_body(record, fields, format_name)
        response = StreamingHttpResponse(body, content_type=f"{STREAM_FORMATS[format_name]}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{purpose.slug}-users.{format_name}"'
        return response
