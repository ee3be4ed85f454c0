from consents.models import Consent
from tenants.context import tenant_context


def test_world_gives_each_tenant_only_its_own_consents(world):
    with tenant_context(world.acme.tenant):
        assert list(Consent.objects.values_list("user__email", flat=True)) == ["alice@example.org"]
    with tenant_context(world.bolt.tenant):
        assert list(Consent.objects.values_list("user__email", flat=True)) == ["bob@example.org"]
