from rest_framework import serializers

from consents.models import DATA_CATEGORIES, LegalBasis, Purpose, PurposeVersion
from harbourmaster.api.prebuilt import PrebuiltFieldsMixin
from harbourmaster.api.views import StrictSerializer


class PurposeVersionSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = PurposeVersion
        fields = ["version", "statement", "statement_hash", "requires_reconsent", "published_at"]


class PurposeSerializer(PrebuiltFieldsMixin, serializers.ModelSerializer):
    versions = PurposeVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Purpose
        fields = [
            "slug",
            "name",
            "legal_basis",
            "data_categories",
            "status",
            "current_version",
            "reconsent_from_version",
            "created_at",
            "retired_at",
            "versions",
        ]
        read_only_fields = fields


class PurposeCreateSerializer(StrictSerializer):
    slug = serializers.SlugField(max_length=63)
    name = serializers.CharField(max_length=200)
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices, default=LegalBasis.CONSENT)
    data_categories = serializers.ListField(child=serializers.ChoiceField(choices=DATA_CATEGORIES), default=list)
    statement = serializers.CharField(max_length=20_000, help_text="The text users agree to (version 1).")


class StatementPublishSerializer(StrictSerializer):
    statement = serializers.CharField(max_length=20_000)
    requires_reconsent = serializers.BooleanField(
        default=False, help_text="Whether users who agreed to an earlier version must be asked again."
    )
