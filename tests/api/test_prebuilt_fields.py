"""Fields built once per serializer class, copied per response: the same answers as DRF's own."""

from rest_framework import serializers

from harbourmaster.api.prebuilt import PrebuiltFieldsMixin
from tenants.api.serializers import ClientSerializer, TenantSerializer
from tenants.models import Client


class _PlainTenantSerializer(TenantSerializer):
    def get_fields(self):  # DRF's own: the model read again for every instance
        return serializers.ModelSerializer.get_fields(self)


class _PlainClientSerializer(ClientSerializer):
    def get_fields(self):
        return serializers.ModelSerializer.get_fields(self)


class _Nested(PrebuiltFieldsMixin, serializers.ModelSerializer):
    redirect_uris = serializers.ListField(child=serializers.CharField())
    tenant = _PlainTenantSerializer()

    class Meta:
        model = Client
        fields = ["name", "redirect_uris", "tenant"]


def test_a_prebuilt_serializer_answers_as_drf_does(world):
    tenant, client = world.acme.tenant, world.acme.backend
    assert TenantSerializer(tenant).data == _PlainTenantSerializer(tenant).data
    assert TenantSerializer(world.bolt.tenant).data == _PlainTenantSerializer(world.bolt.tenant).data
    assert ClientSerializer(client).data == _PlainClientSerializer(client).data


def test_each_response_binds_fields_of_its_own(world):
    first, second = TenantSerializer(world.acme.tenant), TenantSerializer(world.bolt.tenant)
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
    assert first.data["slug"] == "acme" and second.data["slug"] == "bolt"


def test_fields_holding_fields_are_copied_deeply(world):
    first, second = _Nested(world.acme.backend), _Nested(world.bolt.backend)
    assert first.fields["redirect_uris"].child is not second.fields["redirect_uris"].child
    assert first.fields["redirect_uris"].child.parent is first.fields["redirect_uris"]
    assert first.fields["tenant"] is not second.fields["tenant"]
    assert first.data["tenant"]["slug"] == "acme" and second.data["tenant"]["slug"] == "bolt"
