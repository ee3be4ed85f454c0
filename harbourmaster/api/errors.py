"""One error format for the whole API: RFC 9457 problem details.

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``; validation errors add ``errors``, a list of ``{"path", "message"}`` where the
path is a JSON Pointer into the request body.
"""

from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource changed since you read it."
    default_code = "precondition_failed"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "Send If-Match with the ETag you read, so a concurrent change is not overwritten."
    default_code = "precondition_required"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class InvalidInput(exceptions.APIException):
    """Validation errors that already carry JSON Pointer paths (e.g. the tenant config)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request body is not valid."
    default_code = "invalid"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None):
        super().__init__(detail)
        self.errors = errors


def _pointer(parts: list) -> str:
    return "/" + "/".join(str(part) for part in parts) if parts else "/"


def _flatten(detail, path: list) -> list[dict[str, str]]:
    """DRF's nested error dict/list into a flat list of JSON Pointer paths and messages."""
    if isinstance(detail, dict):
        return [
            error
            for key, value in detail.items()
            for error in _flatten(value, path if key in ("non_field_errors", "__all__") else [*path, key])
        ]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"path": _pointer(path), "message": str(item)} for item in detail]
        return [error for index, item in enumerate(detail) for error in _flatten(item, [*path, index])]
    return [{"path": _pointer(path), "message": str(detail)}]


def _problem(status_code: int, code: str, detail: str, errors: list | None = None) -> dict:
    body = {
        "type": f"urn:harbourmaster:problem:{code.replace('_', '-')}",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: let Django log it and answer 500
    if isinstance(exc, InvalidInput):
        body = _problem(exc.status_code, exc.default_code, str(exc.detail), exc.errors)
    elif isinstance(exc, exceptions.ValidationError):
        body = _problem(400, "invalid", "The request is not valid.", _flatten(exc.detail, []))
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = _problem(response.status_code, exc.get_codes() if isinstance(exc.get_codes(), str) else "error", detail)
    return Response(
        body, status=response.status_code, headers=dict(response.items()), content_type=PROBLEM_CONTENT_TYPE
    )
