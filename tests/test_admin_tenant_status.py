"""A tenant's status as staff change it in the admin: deletion is for good, and refusals are
messages, not error pages."""

import secrets
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client as BrowserClient
from django.utils import timezone
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from tenants.models import Client, Tenant
from tenants.services import TenantDeleted, client_create, tenant_activate, tenant_delete, tenant_suspend
from tests.api.conftest import assert_problem
from tests.api.races import answer_while_a_create_commits_late
from tests.test_admin import resubmit, url

from .conftest import SYSTEM


@pytest.fixture
def staff(world):
    # Errors come back as the response a browser would get, not as exceptions in the test.
    browser = BrowserClient(raise_request_exception=False)
    browser.force_login(world.staff)
    return browser


def choose_action(staff, action: str, tenants):
    chosen = {"action": action, ACTION_CHECKBOX_NAME: [tenant.pk for tenant in tenants], "index": "0"}
    return staff.post(url(Tenant, "changelist"), {**chosen, "select_across": "0"}, follow=True)


def shown_messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_tenants_page_does_not_offer_deleted_as_a_status(staff, world):
    page = staff.get(url(Tenant, "change", world.bolt.tenant.pk))

    offered = [value for value, _ in page.context["adminform"].form.fields["status"].choices]
    assert offered == [Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED]


def test_deleted_posted_on_a_suspended_tenants_page_is_refused_and_leaves_it_suspended(staff, world):
    tenant = world.bolt.tenant
    tenant_suspend(actor=SYSTEM, tenant=tenant)
    page = staff.get(url(Tenant, "change", tenant.pk))

    response = staff.post(url(Tenant, "change", tenant.pk), resubmit(page, status=Tenant.Status.DELETED))

    assert response.status_code == 200
    assert "status" in response.context["adminform"].form.errors
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED


def test_a_deleted_tenants_page_shows_it_deleted_and_cannot_be_saved(staff, world):
    tenant = world.bolt.tenant
    tenant_delete(actor=SYSTEM, tenant=tenant)
    page = staff.get(url(Tenant, "change", tenant.pk))
    assert page.status_code == 200
    assert "Deleted" in page.content.decode()

    response = staff.post(
        url(Tenant, "change", tenant.pk),
        {"name": "Bolt again", "contact_email": "ops@bolt.example", "status": "active", "config": "{}"},
    )

    assert response.status_code == 403
    tenant.refresh_from_db()
    assert (tenant.status, tenant.name) == (Tenant.Status.DELETED, world.bolt.tenant.name)


@pytest.mark.parametrize("action", ["activate", "suspend"])
def test_an_action_on_a_deleted_tenant_is_refused_with_a_message_and_the_others_still_change(staff, world, action):
    deleted, other = world.bolt.tenant, world.acme.tenant
    tenant_delete(actor=SYSTEM, tenant=deleted)
    if action == "activate":
        tenant_suspend(actor=SYSTEM, tenant=other)

    response = choose_action(staff, action, [deleted, other])

    assert response.status_code == 200
    deleted.refresh_from_db()
    other.refresh_from_db()
    assert deleted.status == Tenant.Status.DELETED
    expected = Tenant.Status.ACTIVE if action == "activate" else Tenant.Status.SUSPENDED
    assert other.status == expected
    assert any(deleted.slug in message and "deleted" in message.lower() for message in shown_messages(response))


def test_activating_a_tenant_read_before_someone_deleted_it_leaves_it_deleted(world):
    read_earlier = Tenant.objects.get(pk=world.bolt.tenant.pk)
    tenant_delete(actor=SYSTEM, tenant=Tenant.objects.get(pk=world.bolt.tenant.pk))

    with pytest.raises(TenantDeleted):
        tenant_activate(actor=SYSTEM, tenant=read_earlier)

    assert Tenant.objects.get(pk=world.bolt.tenant.pk).status == Tenant.Status.DELETED


@pytest.mark.django_db(transaction=True)
def test_an_operator_activating_a_tenant_as_it_is_deleted_gets_a_conflict_and_it_stays_deleted(world, make_tenant):
    operator_client, _ = client_create(
        actor=SYSTEM,
        tenant=make_tenant("platform"),
        name="ops",
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes=["platform:admin"],
    )
    bearer = secrets.token_urlsafe(30)
    AccessToken.objects.create(
        application=operator_client, token=bearer, expires=timezone.now() + timedelta(hours=1), scope="platform:admin"
    )
    operator = APIClient(raise_request_exception=False)
    operator.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")

    # The delete holds its transaction open while the operator's request reads the tenant as active.
    answer = answer_while_a_create_commits_late(
        create=lambda: tenant_delete(actor=SYSTEM, tenant=Tenant.objects.get(slug="bolt")),
        request=lambda: operator.patch("/api/v1/tenants/bolt", {"status": "active"}, format="json"),
    )

    assert_problem(answer, 409)
    assert Tenant.objects.get(slug="bolt").status == Tenant.Status.DELETED
