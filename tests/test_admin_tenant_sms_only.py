"""The tenant admin while the hub sends no text messages (``SMS_BACKEND=disabled``).

Making a tenant offer SMS codes alone is refused, as in the API; a tenant stored that way
before SMS was switched off can still be renamed and have the rest of its config changed.
"""

import json

import pytest
from django.core.cache import cache

from tenants.models import Tenant, TenantConfigRevision
from tenants.selectors import tenant_clients_cache_forget, tenant_config_cache_key
from tenants.services import tenant_config_update

from .conftest import SYSTEM
from .test_admin import resubmit, url

SMS_ONLY = {"login_methods": ["sms_code"], "otp": {"channels": ["sms"]}}
REFUSAL = (
    "/login_methods: offers only &#x27;sms_code&#x27;, but this hub sends no text messages at present: "
    "add another method"
)


@pytest.fixture
def staff(client, world, settings):
    settings.SMS_BACKEND = "disabled"
    client.force_login(world.staff)
    return client


@pytest.fixture
def sms_only_tenant(world) -> Tenant:
    """Acme as if it chose SMS codes alone while text messages still went out."""
    tenant = world.acme.tenant
    Tenant.objects.filter(pk=tenant.pk).update(config=SMS_ONLY)
    cache.delete(tenant_config_cache_key(tenant.pk))
    tenant_clients_cache_forget(tenant_id=tenant.pk)
    tenant.refresh_from_db()
    return tenant


def test_a_tenant_stored_sms_only_can_be_renamed_while_text_messages_are_off(staff, sms_only_tenant):
    tenant = sms_only_tenant
    page = staff.get(url(Tenant, "change", tenant.pk))

    response = staff.post(
        url(Tenant, "change", tenant.pk), resubmit(page, name="Acme Texts", contact_email="texts@acme.example")
    )

    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == url(Tenant, "changelist")
    tenant.refresh_from_db()
    assert (tenant.name, tenant.contact_email) == ("Acme Texts", "texts@acme.example")
    assert (tenant.config, tenant.config_version) == (SMS_ONLY, 1)


def test_a_tenant_stored_sms_only_can_change_its_branding_while_text_messages_are_off(staff, sms_only_tenant):
    tenant = sms_only_tenant
    page = staff.get(url(Tenant, "change", tenant.pk))
    config = {**SMS_ONLY, "branding": {"display_name": "Acme Texts"}}

    response = staff.post(url(Tenant, "change", tenant.pk), resubmit(page, config=json.dumps(config)))

    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert (tenant.config, tenant.config_version) == (config, 2)
    assert TenantConfigRevision.objects.get(tenant=tenant, version=2).config == config


def test_making_a_tenant_sms_only_is_refused_on_the_page_while_text_messages_are_off(staff, world):
    tenant = world.acme.tenant
    tenant_config_update(actor=SYSTEM, tenant=tenant, config={"login_methods": ["password"]})
    page = staff.get(url(Tenant, "change", tenant.pk))

    response = staff.post(url(Tenant, "change", tenant.pk), resubmit(page, config=json.dumps(SMS_ONLY)))

    assert response.status_code == 200
    assert REFUSAL in response.content.decode()
    tenant.refresh_from_db()
    assert (tenant.config, tenant.config_version) == ({"login_methods": ["password"]}, 2)


def test_a_new_sms_only_tenant_is_refused_while_text_messages_are_off(staff, world):
    data = {"slug": "crane", "name": "Crane", "contact_email": "ops@crane.example", "config": json.dumps(SMS_ONLY)}

    response = staff.post(url(Tenant, "add"), data)

    assert response.status_code == 200
    assert REFUSAL in response.content.decode()
    assert not Tenant.objects.filter(slug="crane").exists()
