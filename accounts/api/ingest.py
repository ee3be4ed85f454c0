"""Tenant systems push users in: create or update, and guests from a consent cookie."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts import services
from accounts.api import serializers as s
from accounts.api.base import UserDataViewSet
from accounts.models import Membership
from harbourmaster.api.errors import Conflict
from harbourmaster.api.idempotency import HEADER, idempotent

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Send the same key with a retry: it gets the first answer and changes nothing twice (24 h).",
)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class UserPushViewSet(UserDataViewSet):
    model = Membership
    write_scopes = {"users:write"}

    @extend_schema(
        request=s.UserPushSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.UserPushedSerializer, 201: s.UserPushedSerializer},
    )
    def create(self, request):
        """Create or update a user, matched by uuid, your external id, a verified email or phone."""
        return idempotent(request, self._push)

    def _push(self) -> Response:
        profile = _valid(s.UserPushSerializer, self.request.data)
        uuid, external_id = profile.pop("uuid", None), profile.pop("external_id", None)
        try:
            user, created, changed = services.user_push(
                actor=self.actor, tenant=self.caller.tenant, uuid=uuid, external_id=external_id, profile=profile
            )
        except services.UserNotKnown:
            raise NotFound() from None
        except services.UserPushConflict as conflict:
            raise Conflict(str(conflict)) from None
        membership = Membership.objects.get(user=user)
        body = {"uuid": str(user.uuid), "external_id": membership.external_id, "created": created, "changed": changed}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        request=s.GuestPushSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.GuestPushedSerializer, 201: s.GuestPushedSerializer},
    )
    def guest(self, request):
        """The guest user behind a consent cookie id; created the first time it is seen."""
        return idempotent(request, self._guest)

    def _guest(self) -> Response:
        cookie_id = _valid(s.GuestPushSerializer, self.request.data)["cookie_id"]
        user, created = services.guest_from_cookie(actor=self.actor, tenant=self.caller.tenant, cookie_id=cookie_id)
        body = {"uuid": str(user.uuid), "created": created}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
