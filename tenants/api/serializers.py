from rest_framework import serializers

from harbourmaster.api.prebuilt import PrebuiltFieldsMixin
from harbourmaster.api.views import StrictSerializer
from tenants.models import Client, ClientSecret, Tenant, TenantConfigRevision


class TenantSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "contact_email", "status", "config_version", "created_at", "updated_at"]
        read_only_fields = fields


class TenantUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    contact_email = serializers.EmailField(required=False)


class ConfigSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="config_version")
    config = serializers.JSONField(help_text="What the tenant chose.")
    effective = serializers.JSONField(help_text="The config with the schema's defaults filled in.")


class ConfigRevisionSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = TenantConfigRevision
        fields = ["version", "config", "actor", "created_at"]


class ClientSecretSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    masked = serializers.CharField(read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = ClientSecret
        fields = ["id", "masked", "created_at", "created_by", "expires_at", "revoked_at", "active"]

    def get_active(self, secret) -> bool:
        return secret.is_active()


class ClientSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    grant_type = serializers.CharField(source="authorization_grant_type")
    redirect_uris = serializers.SerializerMethodField()
    post_logout_redirect_uris = serializers.SerializerMethodField()
    allowed_origins = serializers.SerializerMethodField()
    first_party = serializers.BooleanField(source="skip_authorization")
    backchannel_logout_uri = serializers.SerializerMethodField()
    secrets = ClientSecretSerializer(many=True, read_only=True)

    class Meta:
        model = Client
        fields = [
            "client_id",
            "name",
            "client_type",
            "grant_type",
            "redirect_uris",
            "post_logout_redirect_uris",
            "allowed_scopes",
            "allowed_origins",
            "first_party",
            "backchannel_logout_uri",
            "backchannel_logout_session_required",
            "disabled_at",
            "created",
            "updated",
            "secrets",
        ]
        read_only_fields = fields

    def get_redirect_uris(self, client) -> list[str]:
        return client.redirect_uris.split()

    def get_post_logout_redirect_uris(self, client) -> list[str]:
        return client.post_logout_redirect_uris.split()

    def get_allowed_origins(self, client) -> list[str]:
        return client.allowed_origins.split()

    def get_backchannel_logout_uri(self, client) -> str | None:
        return client.backchannel_logout_uri or None


class ClientWithSecretSerializer(ClientSerializer):
    client_secret = serializers.CharField(
        read_only=True, allow_null=True, help_text="Shown only in this response; null for a public client."
    )

    class Meta(ClientSerializer.Meta):
        fields = [*ClientSerializer.Meta.fields, "client_secret"]


class BackchannelLogoutFields(serializers.Serializer):
    """OpenID Connect Back-Channel Logout 1.0 registration (2.2); null or "" removes the URI."""

    backchannel_logout_uri = serializers.URLField(
        max_length=2000,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="https URL the hub POSTs a logout token to when a user's hub session ends.",
    )
    backchannel_logout_session_required = serializers.BooleanField(
        required=False, help_text="Logout tokens must carry sid (the hub always sends it)."
    )

    def validate_backchannel_logout_uri(self, value: str | None) -> str:
        return value or ""


def allowed_origins_field(**kwargs) -> serializers.ListField:
    # The shape is the service's to check (tenants.services.allowed_origin_normalize), for the admin too.
    return serializers.ListField(
        child=serializers.CharField(max_length=300),
        max_length=20,
        help_text=(
            "Origins (scheme://host[:port]) of browser apps that call the token, userinfo and revocation "
            "endpoints with fetch() (CORS); authorization-code clients only."
        ),
        **kwargs,
    )


class ClientCreateSerializer(BackchannelLogoutFields, StrictSerializer):
    name = serializers.CharField(max_length=255)
    client_type = serializers.ChoiceField(choices=[Client.CLIENT_CONFIDENTIAL, Client.CLIENT_PUBLIC])
    grant_type = serializers.ChoiceField(choices=[Client.GRANT_CLIENT_CREDENTIALS, Client.GRANT_AUTHORIZATION_CODE])
    redirect_uris = serializers.ListField(child=serializers.URLField(), required=False, default=list, max_length=20)
    post_logout_redirect_uris = serializers.ListField(
        child=serializers.URLField(), required=False, default=list, max_length=20
    )
    allowed_scopes = serializers.ListField(child=serializers.CharField(max_length=64), default=list, max_length=20)
    allowed_origins = allowed_origins_field(required=False, default=list)
    first_party = serializers.BooleanField(default=True)


class ClientUpdateSerializer(BackchannelLogoutFields, StrictSerializer):
    name = serializers.CharField(max_length=255, required=False)
    redirect_uris = serializers.ListField(child=serializers.URLField(), required=False, max_length=20)
    post_logout_redirect_uris = serializers.ListField(child=serializers.URLField(), required=False, max_length=20)
    allowed_scopes = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=20)
    allowed_origins = allowed_origins_field(required=False)
    first_party = serializers.BooleanField(required=False)


class RotateSerializer(StrictSerializer):
    overlap_seconds = serializers.IntegerField(
        min_value=0,
        max_value=30 * 24 * 3600,
        default=0,
        help_text="How long the current secrets keep working alongside the new one (0: they stop now).",
    )


class RotatedSecretSerializer(serializers.Serializer):
    client_secret = serializers.CharField(help_text="Shown only in this response.")
    previous_secrets_expire_at = serializers.DateTimeField(
        help_text=(
            "When the first of the previous secrets stops working (now if none still works): switch to the "
            "new secret before then. An earlier rotation's shorter overlap stands."
        )
    )


class TenantOnboardSerializer(StrictSerializer):
    slug = serializers.SlugField(max_length=63)
    name = serializers.CharField(max_length=200)
    contact_email = serializers.EmailField()
    config = serializers.JSONField(default=dict)


class TenantOnboardedSerializer(serializers.Serializer):
    tenant = TenantSerializer()
    admin_client = ClientWithSecretSerializer()


class TenantOperatorUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    contact_email = serializers.EmailField(required=False)
    status = serializers.ChoiceField(choices=Tenant.Status.choices, required=False)
