import pytest

from accounts.models import Membership
from audit.models import AccessRecord
from consents.models import Consent, ConsentRecord, Purpose
from events.models import Event
from tenants.context import NoTenantContext, current_tenant_or_none, tenant_context
from tenants.models import Client, ClientSecret

SCOPED_MODELS = [Purpose, Consent, ConsentRecord, Membership, ClientSecret, AccessRecord, Event]


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda model: model.__name__)
def test_scoped_query_without_tenant_fails_closed(world, model):
    with pytest.raises(NoTenantContext):
        list(model.objects.all())


@pytest.mark.parametrize("model", [Purpose, Consent, ConsentRecord, ClientSecret, Event], ids=lambda m: m.__name__)
def test_scoped_query_sees_only_the_current_tenant(world, model):
    with tenant_context(world.bolt.tenant):
        rows = list(model.objects.all())
    assert rows, "the world gives every tenant some of these"
    everyone = model.objects.unscoped()
    assert everyone.count() > len(rows)
    acme_rows = set(everyone.exclude(pk__in=[row.pk for row in rows]).values_list("pk", flat=True))
    with tenant_context(world.bolt.tenant):
        assert not model.objects.filter(pk__in=acme_rows).exists()


def test_client_scoped_manager_sees_only_own_clients(world):
    with tenant_context(world.acme.tenant):
        assert set(Client.scoped.all()) == {world.acme.backend, world.acme.app}
        assert not Client.scoped.filter(pk=world.bolt.backend.pk).exists()


def test_tenant_context_is_reset_even_on_error(world):
    with pytest.raises(ZeroDivisionError), tenant_context(world.acme.tenant):
        1 / 0  # noqa: B018
    assert current_tenant_or_none() is None


def test_nested_contexts_restore_the_outer_tenant(world):
    with tenant_context(world.acme.tenant):
        with tenant_context(world.bolt.tenant):
            assert set(Purpose.objects.values_list("tenant__slug", flat=True)) == {"bolt"}
        assert set(Purpose.objects.values_list("tenant__slug", flat=True)) == {"acme"}
