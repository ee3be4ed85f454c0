"""The one base class every tenant API view inherits.

It authenticates the calling client, enters its tenant's context for the length of the
request (and always leaves it), checks scopes and rate limits, and owns get_queryset:
subclasses say *what* they list (``model``), never *whose*.
"""

from contextlib import ExitStack

from rest_framework import serializers
from rest_framework.viewsets import GenericViewSet

from harbourmaster.actors import Actor
from tenants.context import tenant_context


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
        self._tenant_scope.enter_context(tenant_context(request.auth.tenant))

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return self.model._default_manager.none()
        return getattr(self.model, self.scoped_manager).all()

    def finalize_response(self, request, response, *args, **kwargs):
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            for name, value in rate_limit.headers().items():
                response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

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
