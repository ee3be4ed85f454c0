from rest_framework import serializers

from accounts.models import e164_validator
from harbourmaster.api.views import StrictSerializer

MAX_LOOKUP_IDENTIFIERS = 1000


class ProfileFieldsSerializer(StrictSerializer):
    """The OIDC standard claims a tenant system may push (docs/decisions/0005)."""

    email = serializers.EmailField(required=False, allow_null=True)
    email_verified = serializers.BooleanField(required=False)
    phone_number = serializers.CharField(required=False, allow_null=True, validators=[e164_validator])
    phone_number_verified = serializers.BooleanField(required=False)
    given_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    family_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    middle_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    nickname = serializers.CharField(max_length=150, required=False, allow_blank=True)
    preferred_username = serializers.CharField(max_length=150, required=False, allow_blank=True)
    gender = serializers.CharField(max_length=32, required=False, allow_blank=True)
    birthdate = serializers.DateField(required=False, allow_null=True)
    zoneinfo = serializers.CharField(max_length=64, required=False, allow_blank=True)
    locale = serializers.CharField(max_length=16, required=False, allow_blank=True)
    picture = serializers.URLField(max_length=500, required=False, allow_blank=True)
    website = serializers.URLField(max_length=500, required=False, allow_blank=True)
    profile = serializers.URLField(max_length=500, required=False, allow_blank=True)
    address_street = serializers.CharField(max_length=300, required=False, allow_blank=True)
    address_locality = serializers.CharField(max_length=150, required=False, allow_blank=True)
    address_region = serializers.CharField(max_length=150, required=False, allow_blank=True)
    address_postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    address_country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True)


class UserPushSerializer(ProfileFieldsSerializer):
    uuid = serializers.UUIDField(required=False, help_text="Update this user (one your tenant knows).")
    external_id = serializers.CharField(
        max_length=200, required=False, help_text="Your own id for the user; matched first, stored for next time."
    )


class UserPushedSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    external_id = serializers.CharField(allow_null=True)
    created = serializers.BooleanField()
    changed = serializers.ListField(child=serializers.CharField(), help_text="The fields this push changed.")


class GuestPushSerializer(StrictSerializer):
    cookie_id = serializers.RegexField(r"^[A-Za-z0-9._~-]{8,128}$", help_text="The consent cookie's id.")


class GuestPushedSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    created = serializers.BooleanField()


class IdentifierSerializer(StrictSerializer):
    """Exactly one of the ways a tenant can name a user."""

    uuid = serializers.UUIDField(required=False)
    email = serializers.CharField(max_length=254, required=False)
    phone_number = serializers.CharField(max_length=16, required=False)
    external_id = serializers.CharField(max_length=200, required=False)

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("name the user by exactly one of uuid, email, phone_number, external_id")
        return attrs


class LookupSerializer(StrictSerializer):
    purpose = serializers.SlugField(max_length=63, help_text="The purpose you read the data for.")
    fields = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Fields or categories; default all."
    )
    identifiers = serializers.ListField(child=IdentifierSerializer(), min_length=1, max_length=MAX_LOOKUP_IDENTIFIERS)


class UserDataSerializer(serializers.Serializer):
    """A user as a tenant sees it: ``uuid`` and only the fields its purpose allows."""

    uuid = serializers.UUIDField()
    email = serializers.EmailField(required=False)
    email_verified = serializers.BooleanField(required=False)
    phone_number = serializers.CharField(required=False)
    phone_number_verified = serializers.BooleanField(required=False)
    given_name = serializers.CharField(required=False)
    family_name = serializers.CharField(required=False)
    middle_name = serializers.CharField(required=False)
    nickname = serializers.CharField(required=False)
    preferred_username = serializers.CharField(required=False)
    gender = serializers.CharField(required=False)
    birthdate = serializers.DateField(required=False, allow_null=True)
    zoneinfo = serializers.CharField(required=False)
    locale = serializers.CharField(required=False)
    picture = serializers.CharField(required=False)
    website = serializers.CharField(required=False)
    profile = serializers.CharField(required=False)
    address_street = serializers.CharField(required=False)
    address_locality = serializers.CharField(required=False)
    address_region = serializers.CharField(required=False)
    address_postal_code = serializers.CharField(required=False)
    address_country = serializers.CharField(required=False)


class LookupMatchSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the identifier in your request.")
    identifier = IdentifierSerializer()
    user = UserDataSerializer()


class LookupResultSerializer(serializers.Serializer):
    results = LookupMatchSerializer(many=True)


class UserPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = UserDataSerializer(many=True)
