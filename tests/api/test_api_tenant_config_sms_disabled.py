"""The tenant config API refuses SMS codes as the only sign-in method while the hub sends
no text messages (``SMS_BACKEND=disabled``): that tenant's users would have no way in.
A tenant stored that way before SMS was switched off can still change the rest of its config."""

from django.core.cache import cache

from tenants.models import Tenant, TenantConfigRevision
from tenants.selectors import tenant_clients_cache_forget, tenant_config_cache_key
from tests.api.conftest import assert_problem

SMS_ONLY = {"login_methods": ["sms_code"], "otp": {"channels": ["sms"]}}


def test_sms_codes_alone_are_refused_while_text_messages_are_off(world, acme_admin, settings):
    settings.SMS_BACKEND = "disabled"
    response = acme_admin.patch("/api/v1/tenant/config", SMS_ONLY, format="json", HTTP_IF_MATCH='"1"')
    body = assert_problem(response, 400)
    assert body["errors"] == [
        {
            "path": "/login_methods",
            "message": "offers only 'sms_code', but this hub sends no text messages at present: add another method",
        }
    ]
    tenant = Tenant.objects.get(pk=world.acme.tenant.pk)
    assert (tenant.config_version, tenant.config.get("login_methods")) == (1, None)
    assert TenantConfigRevision.objects.filter(tenant=tenant).count() == 1


def test_sms_codes_beside_another_method_are_accepted_while_text_messages_are_off(world, acme_admin, settings):
    settings.SMS_BACKEND = "disabled"
    config = {"login_methods": ["sms_code", "password"], "otp": {"channels": ["sms"]}}
    response = acme_admin.patch("/api/v1/tenant/config", config, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    assert response.json()["config"]["login_methods"] == ["sms_code", "password"]


def test_sms_codes_alone_are_accepted_while_text_messages_go_out(world, acme_admin, settings):
    settings.SMS_BACKEND = "console"
    response = acme_admin.patch("/api/v1/tenant/config", SMS_ONLY, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config["login_methods"] == ["sms_code"]


def _store_sms_only(tenant: Tenant) -> None:
    """As if the tenant chose SMS codes alone while text messages still went out."""
    Tenant.objects.filter(pk=tenant.pk).update(config=SMS_ONLY)
    cache.delete(tenant_config_cache_key(tenant.pk))
    tenant_clients_cache_forget(tenant_id=tenant.pk)


def test_a_tenant_stored_sms_only_can_change_its_branding_while_text_messages_are_off(world, acme_admin, settings):
    settings.SMS_BACKEND = "disabled"
    _store_sms_only(world.acme.tenant)

    patch = {"branding": {"display_name": "Acme Rewards"}}
    response = acme_admin.patch("/api/v1/tenant/config", patch, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    tenant = Tenant.objects.get(pk=world.acme.tenant.pk)
    assert tenant.config == {**SMS_ONLY, "branding": {"display_name": "Acme Rewards"}}
    assert tenant.config_version == 2
    assert TenantConfigRevision.objects.get(tenant=tenant, version=2).config == tenant.config


def test_a_tenant_stored_sms_only_can_add_a_method_while_text_messages_are_off(world, acme_admin, settings):
    settings.SMS_BACKEND = "disabled"
    _store_sms_only(world.acme.tenant)

    patch = {"login_methods": ["sms_code", "password"]}
    response = acme_admin.patch("/api/v1/tenant/config", patch, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config["login_methods"] == ["sms_code", "password"]
