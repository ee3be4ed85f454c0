"""Tenant systems record consent grants and withdrawals, with their proof.

The calling client is recorded as the client of the act; the purpose must be one of the
caller's own (another tenant's slug answers 404, like a missing one). A repeat of the
current state records nothing twice (decision 0004), and an Idempotency-Key makes a
retried request answer exactly as the first did. A grant for a user the tenant does not
deal with first-hand answers ``pending`` and waits for the user's confirmation (0035).

The user is named the way tenants know users, which is the accounts app's business:
this door imports its selector (docs/decisions/0009-user-data-visibility.md).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import UserDataViewSet
from accounts.api.ingest import IDEMPOTENCY_KEY
from accounts.api.serializers import IdentifierSerializer
from accounts.confirmations.services import consent_record_for_tenant, hub_url
from accounts.selectors import user_by_tenant_identifier
from consents.models import Channel, ConsentRecord
from harbourmaster.api.idempotency import idempotent
from harbourmaster.api.views import StrictSerializer


class ConsentActSerializer(StrictSerializer):
    user = IdentifierSerializer()
    purpose = serializers.SlugField(max_length=63)
    action = serializers.ChoiceField(choices=ConsentRecord.Action.choices)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The statement version agreed to (grants; default the current one)."
    )
    occurred_at = serializers.DateTimeField(help_text="When the user gave or withdrew consent.")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    source = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None)
    user_agent = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    def validate(self, attrs):
        if attrs["action"] == ConsentRecord.Action.WITHDRAW and "version" in attrs:
            raise serializers.ValidationError({"version": "a withdrawal is of the purpose, not of a version"})
        return attrs


class ConsentStateSerializer(serializers.Serializer):
    user = serializers.UUIDField()
    purpose = serializers.SlugField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    granted_at = serializers.DateTimeField(allow_null=True)
    withdrawn_at = serializers.DateTimeField(allow_null=True)


class ConsentIngestViewSet(UserDataViewSet):
    write_scopes = {"consents:write"}

    @extend_schema(request=ConsentActSerializer, parameters=[IDEMPOTENCY_KEY], responses=ConsentStateSerializer)
    def create(self, request):
        """Record one grant or withdrawal; answers the consent's state after it."""
        return idempotent(request, self._record)

    def _record(self) -> Response:
        act = ConsentActSerializer(data=self.request.data)
        act.is_valid(raise_exception=True)
        data = dict(act.validated_data)
        purpose = self.purpose_get(data.pop("purpose"))
        identifier = {kind: str(value) for kind, value in data.pop("user").items()}
        user = user_by_tenant_identifier(tenant=self.caller.tenant, identifier=identifier)
        if user is None:
            raise NotFound()
        consent = consent_record_for_tenant(
            actor=self.actor,
            user=user,
            purpose=purpose,
            client=self.caller.client,
            hub_url=hub_url(self.request),
            **data,
        )
        body = {
            "user": str(user.uuid),
            "purpose": purpose.slug,
            "state": consent.state,
            "version": consent.version.version,
            "granted_at": consent.granted_at,
            "withdrawn_at": consent.withdrawn_at,
        }
        return Response(ConsentStateSerializer(body).data)
