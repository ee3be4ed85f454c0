"""What every user-data view shares: reads go through one of the caller's purposes, are
limited to that purpose's fields, and are recorded in the transaction that serves them."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, transaction
from rest_framework import exceptions, status

from accounts.models import CATEGORY_FIELDS, PROFILE_FIELDS
from accounts.selectors import purpose_readable_fields
from audit.services import access_record
from consents.models import Purpose
from harbourmaster.api.errors import InvalidInput
from harbourmaster.api.views import TenantViewSet

KNOWN_FIELD_NAMES = {"uuid", *PROFILE_FIELDS, *CATEGORY_FIELDS}


class FieldsNotAllowed(exceptions.PermissionDenied):
    default_detail = "The purpose or the tenant's scopes do not allow these fields."
    default_code = "fields_not_allowed"


class ReadNotRecorded(exceptions.APIException):
    """No record, no response: the read could not be recorded, so nothing is returned."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The read could not be recorded, so no data is returned. Try again."
    default_code = "read_not_recorded"


def fields_select(requested: Iterable[str] | None, readable: tuple[str, ...]) -> tuple[str, ...]:
    """The fields to return: all readable ones unless some are named (fields or categories).

    Naming one outside the purpose's set is refused, not dropped: a tenant must learn
    that it does not get what it asked for."""
    names = [name.strip() for name in requested or () if name.strip()]
    if not names:
        return readable
    unknown = sorted(set(names) - KNOWN_FIELD_NAMES)
    if unknown:
        raise InvalidInput([{"path": "/fields", "message": f"unknown fields: {', '.join(unknown)}"}])
    wanted = {field for name in names for field in CATEGORY_FIELDS.get(name, (name,))}
    refused = sorted(wanted - set(readable))
    if refused:
        raise FieldsNotAllowed(f"Not allowed for this purpose: {', '.join(refused)}.")
    return ("uuid", *(field for field in readable if field in wanted and field != "uuid"))


def query_parameters_check(request, known: set[str]) -> None:
    """InvalidInput naming every query parameter the endpoint does not take: a misspelt
    ``fields`` must not quietly read every field."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput([{"path": f"/{name}", "message": "unknown query parameter"} for name in unknown])


class UserDataViewSet(TenantViewSet):
    """Base of the user-data views. ``model`` is Purpose: a read names one of the caller's
    purposes, found inside its tenant (404 for another tenant's, as for a missing one)."""

    model = Purpose

    def purpose_get(self, slug: str | None, *, path: str = "/purpose") -> Purpose:
        if not slug:
            raise InvalidInput([{"path": path, "message": "name the purpose you read the data for"}])
        purpose = self.get_queryset().select_related("tenant").filter(slug=slug).first()
        if purpose is None:
            raise exceptions.NotFound()
        return purpose

    def fields_for(self, purpose: Purpose, requested: Iterable[str] | None) -> tuple[str, ...]:
        return fields_select(requested, purpose_readable_fields(purpose=purpose))

    @contextmanager
    def recorded_read(self) -> Iterator[None]:
        """The read and its access record in one transaction; no record, no response."""
        try:
            with transaction.atomic():
                yield
        except DatabaseError as error:
            raise ReadNotRecorded() from error

    def record(self, *, purpose: Purpose, action: str, fields: Iterable[str], user_ids: Iterable[int]) -> None:
        access_record(
            tenant=self.caller.tenant,
            client=self.caller.client,
            purpose=purpose.slug,
            action=action,
            fields=list(fields),
            user_ids=user_ids,
            request_id=self.request_id,
        )
