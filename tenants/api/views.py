from contextlib import suppress
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from harbourmaster.api.errors import Conflict, InvalidInput, PreconditionFailed, PreconditionRequired
from harbourmaster.api.views import TenantViewSet
from tenants import services
from tenants.api import serializers as s
from tenants.config import TenantConfigInvalid
from tenants.models import Client, ClientSecret, Tenant, TenantConfigRevision
from tenants.scopes import PLATFORM_SCOPE
from tenants.selectors import client_previous_secrets_expire_at, tenant_effective_config

ADMIN = {"tenant:admin"}
# What users grant to sign-in apps, not API powers: any tenant admin may hand them out.
SIGN_IN_SCOPES = {"openid", "profile", "email", "phone", "address", "offline_access"}
IF_MATCH = OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=True, description="The ETag you read")


def _config_invalid(error: TenantConfigInvalid) -> InvalidInput:
    return InvalidInput([{"path": e.path, "message": e.message} for e in error.errors], "The config is not valid.")


class OwnTenantViewSet(TenantViewSet):
    """The calling client's own tenant."""

    model = Tenant
    read_scopes = write_scopes = ADMIN

    def get_object(self) -> Tenant:
        return Tenant.objects.get(pk=self.caller.tenant.pk)

    @extend_schema(responses=s.TenantSerializer)
    def retrieve(self, request):
        # The caller's tenant came with its client from the cache, which every tenant
        # write invalidates (tenants.selectors): reading it again would find the same row.
        return Response(s.TenantSerializer(self.caller.tenant).data)

    @extend_schema(request=s.TenantUpdateSerializer, responses=s.TenantSerializer)
    def partial_update(self, request):
        data = _valid(s.TenantUpdateSerializer, request.data)
        tenant = services.tenant_update(actor=self.actor, tenant=self.get_object(), **data)
        return Response(s.TenantSerializer(tenant).data)


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _etag(tenant: Tenant) -> str:
    return f'"{tenant.config_version}"'


def _expected_version(request) -> int:
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired()
    try:
        return int(header.removeprefix("W/").strip('"'))
    except ValueError:
        raise PreconditionFailed("If-Match does not name a version of this config.") from None


class TenantConfigViewSet(TenantViewSet):
    """The tenant's configuration, validated against /schemas/tenant-config.json."""

    model = Tenant
    read_scopes = write_scopes = ADMIN

    def get_object(self) -> Tenant:
        return Tenant.objects.get(pk=self.caller.tenant.pk)

    def _respond(self, tenant: Tenant, status_code: int = 200) -> Response:
        body = {
            "version": tenant.config_version,
            "config": tenant.config,
            "effective": tenant_effective_config(tenant=tenant),
        }
        return Response(body, status=status_code, headers={"ETag": _etag(tenant)})

    @extend_schema(responses=s.ConfigSerializer)
    def retrieve(self, request):
        return self._respond(self.get_object())

    def _write(self, request, *, partial: bool) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput([{"path": "/", "message": "the config must be a JSON object"}])
        try:
            tenant = services.tenant_config_update(
                actor=self.actor,
                tenant=self.get_object(),
                config=dict(request.data),
                expected_version=_expected_version(request),
                partial=partial,
            )
        except TenantConfigInvalid as error:
            raise _config_invalid(error) from None
        except services.ConfigVersionConflict as conflict:
            raise PreconditionFailed(str(conflict)) from None
        return self._respond(tenant)

    @extend_schema(request={"application/json": dict}, parameters=[IF_MATCH], responses=s.ConfigSerializer)
    def update(self, request):
        """Replace the whole config."""
        return self._write(request, partial=False)

    @extend_schema(request={"application/merge-patch+json": dict}, parameters=[IF_MATCH], responses=s.ConfigSerializer)
    def partial_update(self, request):
        """Change part of the config (JSON Merge Patch: null removes a key)."""
        return self._write(request, partial=True)

    @extend_schema(responses=s.ConfigRevisionSerializer(many=True))
    def revisions(self, request):
        revisions = TenantConfigRevision.objects.filter(tenant=self.caller.tenant)
        page = self.paginate_queryset(revisions)
        return self.get_paginated_response(s.ConfigRevisionSerializer(page, many=True).data)


class ClientBeyondYourScopes(PermissionDenied):
    default_code = "client_beyond_your_scopes"


class ClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's OAuth clients and their secrets. Secrets are shown once, when issued."""

    model = Client
    scoped_manager = "scoped"
    lookup_field = "client_id"
    lookup_value_regex = r"[^/]+"
    serializer_class = s.ClientSerializer
    read_scopes = write_scopes = ADMIN

    def get_queryset(self):
        return super().get_queryset().prefetch_related("secrets")

    def _beyond_caller(self, scopes: list[str]) -> list[str]:
        return sorted(set(scopes) - self.caller.scopes - SIGN_IN_SCOPES)

    def _refuse_foreign_scopes(self, scopes: list[str]) -> None:
        beyond = self._beyond_caller(scopes)
        if beyond:
            raise InvalidInput([{"path": "/allowed_scopes", "message": f"beyond your own scopes: {', '.join(beyond)}"}])

    def _changeable_object(self) -> Client:
        """The client, if it holds no scope the caller lacks: whoever holds its secret holds its
        scopes, so changing it is giving them out (decision 7). Reading it stays open."""
        client = self.get_object()
        beyond = self._beyond_caller(client.allowed_scopes)
        if beyond:
            raise ClientBeyondYourScopes(
                f"This client holds scopes your token does not: {', '.join(beyond)}. "
                "Only a caller holding all of them may change it, rotate or revoke its secrets, "
                "disable, enable or delete it."
            )
        return client

    @extend_schema(request=s.ClientCreateSerializer, responses={201: s.ClientWithSecretSerializer})
    def create(self, request):
        data = _valid(s.ClientCreateSerializer, request.data)
        self._refuse_foreign_scopes(data["allowed_scopes"])
        client, secret = services.client_create(
            actor=self.actor, tenant=self.caller.tenant, first_party=data.pop("first_party"), **data
        )
        client.client_secret = secret
        return Response(s.ClientWithSecretSerializer(client).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ClientUpdateSerializer, responses=s.ClientSerializer)
    def partial_update(self, request, client_id=None):
        client = self._changeable_object()
        changes = _valid(s.ClientUpdateSerializer, request.data)
        if "allowed_scopes" in changes:
            self._refuse_foreign_scopes(changes["allowed_scopes"])
        client = services.client_update(actor=self.actor, client=client, changes=changes)
        return Response(s.ClientSerializer(client).data)

    def _refuse_own_client(self, client: Client, doing: str) -> None:
        if client.pk == self.caller.client.pk:
            raise Conflict(f"A client cannot {doing} itself; use another admin client.")

    @extend_schema(responses={204: None})
    def destroy(self, request, client_id=None):
        client = self._changeable_object()
        self._refuse_own_client(client, "delete")
        try:
            services.client_delete(actor=self.actor, client=client)
        except services.ClientInUse as in_use:
            raise Conflict(str(in_use)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.RotateSerializer, responses={201: s.RotatedSecretSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, client_id=None):
        """Issue a new secret; the current ones keep working for ``overlap_seconds``."""
        client = self._changeable_object()
        overlap = timedelta(seconds=_valid(s.RotateSerializer, request.data)["overlap_seconds"])
        overlap_until = timezone.now() + overlap if overlap else None
        secret = services.client_secret_rotate(actor=self.actor, client=client, overlap_until=overlap_until)
        body = {"client_secret": secret, "previous_secrets_expire_at": client_previous_secrets_expire_at(client=client)}
        return Response(s.RotatedSecretSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ClientSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, client_id=None):
        """Disable at once: the client cannot get tokens, and its tokens stop working."""
        client = self._changeable_object()
        self._refuse_own_client(client, "disable")
        return Response(s.ClientSerializer(services.client_disable(actor=self.actor, client=client)).data)

    @extend_schema(request=None, responses=s.ClientSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, client_id=None):
        client = services.client_enable(actor=self.actor, client=self._changeable_object())
        return Response(s.ClientSerializer(client).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"secrets/(?P<secret_id>\d+)")
    def revoke_secret(self, request, client_id=None, secret_id=None):
        """Revoke one secret at once."""
        client = self._changeable_object()
        try:
            secret = ClientSecret.objects.get(client=client, pk=secret_id)
        except ClientSecret.DoesNotExist:
            raise NotFound() from None
        services.client_secret_revoke(actor=self.actor, secret=secret)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OperatorTenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Platform operators: onboard, list, suspend and delete tenants. Crosses tenants by design."""

    model = Tenant
    lookup_field = "slug"
    serializer_class = s.TenantSerializer
    read_scopes = write_scopes = {PLATFORM_SCOPE}

    @extend_schema(request=s.TenantOnboardSerializer, responses={201: s.TenantOnboardedSerializer})
    def create(self, request):
        """Onboard a tenant with its config; returns its first admin client and secret (shown once)."""
        data = _valid(s.TenantOnboardSerializer, request.data)
        try:
            tenant, client, secret = services.tenant_onboard(actor=self.actor, **data)
        except TenantConfigInvalid as error:
            invalid = _config_invalid(error)
            invalid.errors = [
                {"path": "/config" + e["path"].rstrip("/"), "message": e["message"]} for e in invalid.errors
            ]
            raise invalid from None
        except ValidationError as error:
            if "slug" in getattr(error, "message_dict", {}):
                raise Conflict("A tenant with this slug exists.") from None
            raise
        client.client_secret = secret
        body = {"tenant": s.TenantSerializer(tenant).data, "admin_client": s.ClientWithSecretSerializer(client).data}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TenantOperatorUpdateSerializer, responses=s.TenantSerializer)
    @transaction.atomic
    def partial_update(self, request, slug=None):
        tenant = self.get_object()
        data = _valid(s.TenantOperatorUpdateSerializer, request.data)
        new_status = data.pop("status", None)
        if tenant.status == Tenant.Status.DELETED:
            raise Conflict("This tenant is deleted and cannot be changed.")
        if new_status == Tenant.Status.DELETED:
            raise InvalidInput([{"path": "/status", "message": "delete a tenant with DELETE"}])
        if data:
            services.tenant_update(actor=self.actor, tenant=tenant, **data)
        try:
            if new_status == Tenant.Status.SUSPENDED:
                services.tenant_suspend(actor=self.actor, tenant=tenant)
            elif new_status == Tenant.Status.ACTIVE:
                services.tenant_activate(actor=self.actor, tenant=tenant)
        except services.TenantDeleted:
            # Deleted by someone else since it was read above.
            raise Conflict("This tenant is deleted and cannot be changed.") from None
        return Response(s.TenantSerializer(tenant).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, slug=None):
        """Offboard: clients disabled, consents stop counting; records stay as proof."""
        tenant = self.get_object()
        if tenant.pk == self.caller.tenant.pk:
            raise Conflict("Operators cannot delete their own tenant.")
        # Deleted by someone else since it was read: done either way.
        with suppress(services.TenantDeleted):
            if tenant.status != Tenant.Status.DELETED:
                services.tenant_delete(actor=self.actor, tenant=tenant)
        return Response(status=status.HTTP_204_NO_CONTENT)
