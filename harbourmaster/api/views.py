"""The one base class every tenant API view inherits.

It authenticates the calling client, enters its tenant's context for the length of the
request (and always leaves it), checks scopes and rate limits, and owns get_queryset:
subclasses say *what* they list (``model``), never *whose*.
"""

import re
import uuid
from contextlib import ExitStack

from rest_framework import serializers
from rest_framework.viewsets import GenericViewSet

from harbourmaster.actors import Actor
from tenants.context import tenant_context

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class TenantViewSet(GenericViewSet):
    model = None
    # The tenant-scoped manager of ``model``; it raises when no tenant is set.
    scoped_manager = "objects"
    read_scopes: set[str] = set()
    write_scopes: set[str] = set()

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as self._tenant_scope:
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # DRF reads the body past Django's size check; reading it here applies
        # DATA_UPLOAD_MAX_MEMORY_SIZE (413) before anything is parsed.
        request.body  # noqa: B018
        # PostgreSQL text cannot hold NUL: a parameter carrying one can match nothing.
        refused = sorted({name for name, values in request.query_params.lists() if any("\x00" in v for v in values)})
        if refused:
            raise serializers.ValidationError({name: ["must not contain NUL characters"] for name in refused})
        self._tenant_scope.enter_context(tenant_context(request.auth.tenant))

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return self.model._default_manager.none()
        return getattr(self.model, self.scoped_manager).all()

    def finalize_response(self, request, response, *args, **kwargs):
        response[REQUEST_ID_HEADER] = self.request_id
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            for name, value in rate_limit.headers().items():
                response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

    @property
    def request_id(self) -> str:
        """The caller's X-Request-ID if it is sane, else one of ours; echoed and recorded."""
        if not hasattr(self, "_request_id"):
            sent = self.request.headers.get(REQUEST_ID_HEADER, "")
            self._request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        return self._request_id

    @property
    def caller(self):
        return self.request.auth

    @property
    def actor(self) -> Actor:
        return Actor.client(self.request.auth.client)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a field a client may not set is an error, not ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["This field is not accepted here."] for name in unknown})
        return super().to_internal_value(data)
