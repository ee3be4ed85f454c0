from django.core.exceptions import ValidationError
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from consents import services
from consents.api import serializers as s
from consents.models import Purpose
from harbourmaster.api.errors import Conflict
from harbourmaster.api.views import TenantViewSet

SLUG_TAKEN = "This tenant already has a purpose with this slug."


class PurposeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """What the tenant uses data for, with every statement version users agreed to."""

    model = Purpose
    lookup_field = "slug"
    serializer_class = s.PurposeSerializer
    read_scopes = {"tenant:admin", "users:read", "users:write", "consents:write"}
    write_scopes = {"tenant:admin"}

    def get_queryset(self):
        return super().get_queryset().prefetch_related("versions").order_by("-id")

    @extend_schema(request=s.PurposeCreateSerializer, responses={201: s.PurposeSerializer})
    def create(self, request):
        serializer = s.PurposeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["slug"]
        if Purpose.objects.filter(slug=slug).exists():
            raise Conflict(SLUG_TAKEN)
        try:
            purpose = services.purpose_create(actor=self.actor, tenant=self.caller.tenant, **serializer.validated_data)
        except IntegrityError:
            # Another create of this slug committed after our check (the unique index made us wait for it).
            if Purpose.objects.filter(slug=slug).exists():
                raise Conflict(SLUG_TAKEN) from None
            raise
        return Response(
            s.PurposeSerializer(self.get_queryset().get(pk=purpose.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=s.StatementPublishSerializer, responses={201: s.PurposeVersionSerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request, slug=None):
        """Publish a new statement; with requires_reconsent, earlier consents stop counting."""
        purpose = self.get_object()
        serializer = s.StatementPublishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            version = services.purpose_statement_publish(actor=self.actor, purpose=purpose, **serializer.validated_data)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None
        return Response(s.PurposeVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.PurposeSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, slug=None):
        """Retire the purpose: no new consents, and existing ones stop counting."""
        purpose = services.purpose_retire(actor=self.actor, purpose=self.get_object())
        return Response(s.PurposeSerializer(self.get_queryset().get(pk=purpose.pk)).data)
