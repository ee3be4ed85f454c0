"""Bulk import (users:write; consents:write too when rows carry consents): upload a JSON
Lines or CSV file, follow its progress, read the rows that were not applied."""

import io
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from accounts.api.ingest import IDEMPOTENCY_KEY
from accounts.confirmations.services import hub_url
from accounts.imports.models import ImportJob
from accounts.imports.rows import UploadInvalid, upload_summary
from accounts.imports.selectors import import_row_errors
from accounts.imports.services import import_job_create
from harbourmaster.api import converters  # noqa: F401  (registers <any_case_uuid:...>)
from harbourmaster.api.errors import InvalidInput, PayloadTooLarge
from harbourmaster.api.idempotency import idempotent
from harbourmaster.api.pagination import IdCursorPagination
from harbourmaster.api.views import TenantViewSet


def upload_max_bytes() -> int:
    return settings.USER_IMPORT_MAX_BYTES


@dataclass(frozen=True)
class Upload:
    format: str
    text: str


def upload_read(request: HttpRequest) -> None:
    """Read the body under USER_IMPORT_MAX_BYTES (413 beyond). Django keeps a body it has
    read and does not measure it again, so TenantViewSet's DATA_UPLOAD_MAX_MEMORY_SIZE,
    sized for JSON requests, does not apply to an upload."""
    limit = upload_max_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:  # a malformed header: measure what arrives
        declared = 0
    body = b"" if declared > limit else request.read(limit + 1)
    if declared > limit or len(body) > limit:
        raise PayloadTooLarge(f"The upload is larger than {limit} bytes; split it into several imports.")
    request._body, request._stream = body, io.BytesIO(body)


class UploadParser(BaseParser):
    """The upload as text."""

    format = ""

    def parse(self, stream, media_type=None, parser_context=None) -> Upload:
        try:
            text = stream.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParseError("The upload must be UTF-8 text.") from None
        if "\x00" in text:  # the upload is kept in a text column, which cannot hold NUL
            raise ParseError("The upload must be text without NUL bytes.")
        return Upload(self.format, text)


class JSONLinesUploadParser(UploadParser):
    media_type = "application/x-ndjson"
    format = ImportJob.Format.JSONL


class CSVUploadParser(UploadParser):
    media_type = "text/csv"
    format = ImportJob.Format.CSV


class ImportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)
    format = serializers.ChoiceField(choices=ImportJob.Format.choices)
    rows_total = serializers.IntegerField()
    rows_done = serializers.IntegerField(help_text="Rows applied.")
    rows_failed = serializers.IntegerField(help_text="Rows not applied; see the error report.")
    last_line = serializers.IntegerField(help_text="The last line worked through.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    def get_url(self, job) -> str:
        return self.context["request"].build_absolute_uri(reverse("user-import-detail", args=[job.uuid]))

    def get_errors_url(self, job) -> str:
        return self.context["request"].build_absolute_uri(reverse("user-import-errors", args=[job.uuid]))


class RowErrorMessageSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="JSON Pointer into the row, or /<column> for CSV.")
    message = serializers.CharField()


class ImportRowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line of the upload the row starts on (1-based).")
    errors = RowErrorMessageSerializer(many=True)


class ImportRowErrorPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ImportRowErrorSerializer(many=True)


class RowErrorPagination(IdCursorPagination):
    ordering = "line"


class UserImportViewSet(TenantViewSet):
    model = ImportJob
    read_scopes = write_scopes = {"users:write"}
    parser_classes = [JSONLinesUploadParser, CSVUploadParser]
    pagination_class = RowErrorPagination
    lookup_field = "uuid"

    def check_throttles(self, request):
        super().check_throttles(request)
        # The last check before the body is read: only callers let through get this far.
        if request.method == "POST":
            upload_read(request._request)

    @extend_schema(
        request={JSONLinesUploadParser.media_type: OpenApiTypes.STR, CSVUploadParser.media_type: OpenApiTypes.STR},
        parameters=[IDEMPOTENCY_KEY],
        responses={202: ImportJobSerializer},
    )
    def create(self, request):
        """Upload users (and their consents) to import; answers 202 with the job to follow."""
        return idempotent(request, self._upload)

    def _upload(self) -> Response:
        upload = self.request.data
        if not isinstance(upload, Upload):
            raise InvalidInput([{"path": "/", "message": "the upload is empty"}])
        try:
            total, carries_consents = upload_summary(format=upload.format, body=upload.text)
        except UploadInvalid as invalid:
            raise InvalidInput(invalid.errors) from None
        if carries_consents and "consents:write" not in self.caller.scopes:
            raise PermissionDenied("Rows with consents need the consents:write scope as well.")
        job = import_job_create(
            actor=self.actor,
            tenant=self.caller.tenant,
            client=self.caller.client,
            format=upload.format,
            body=upload.text,
            rows_total=total,
            hub_url=hub_url(self.request),
        )
        body = ImportJobSerializer(job, context={"request": self.request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(responses=ImportJobSerializer)
    def retrieve(self, request, uuid=None):
        """The import's progress: rows done, failed and in all."""
        return Response(ImportJobSerializer(self._job(uuid), context={"request": request}).data)

    @extend_schema(responses=ImportRowErrorPageSerializer)
    def errors(self, request, uuid=None):
        """The rows that were not applied: their line and why, in line order."""
        page = self.paginate_queryset(import_row_errors(job=self._job(uuid)))
        return self.get_paginated_response(ImportRowErrorSerializer(page, many=True).data)

    def _job(self, uuid) -> ImportJob:
        job = self.get_queryset().defer("body").filter(uuid=uuid).first()
        if job is None:
            raise NotFound()
        return job


urlpatterns = [
    path("imports", UserImportViewSet.as_view({"post": "create"}), name="user-imports"),
    path("imports/<any_case_uuid:uuid>", UserImportViewSet.as_view({"get": "retrieve"}), name="user-import-detail"),
    path(
        "imports/<any_case_uuid:uuid>/errors", UserImportViewSet.as_view({"get": "errors"}), name="user-import-errors"
    ),
]
