import pytest
from django.test import Client as DjangoTestClient
from rest_framework.test import APIClient

from consents.models import ConsentRecord
from consents.selectors import user_ids_with_current_consent
from harbourmaster.actors import Actor
from tenants.models import Client, Tenant
from tenants.services import client_create, tenant_onboard
from tests.api.conftest import assert_problem
from tests.api.races import answer_while_a_create_commits_late


@pytest.fixture
def operator(world, api_as, make_tenant):
    platform = make_tenant("platform")
    client, _ = client_create(
        actor=Actor.system("tests"),
        tenant=platform,
        name="ops",
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes=["platform:admin"],
    )
    return api_as(client, ["platform:admin"])


def test_onboard_a_tenant_in_one_call(operator):
    response = operator.post(
        "/api/v1/tenants",
        {"slug": "cafe", "name": "Café", "contact_email": "it@cafe.example", "config": {"otp": {"length": 8}}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    tenant = Tenant.objects.get(slug="cafe")
    assert tenant.config == {"otp": {"length": 8}}
    admin_client = Client.objects.get(client_id=body["admin_client"]["client_id"])
    assert admin_client.tenant == tenant and "tenant:admin" in admin_client.allowed_scopes
    assert "platform:admin" not in admin_client.allowed_scopes
    # The new tenant's admin gets a token with the secret it was shown, and the token works.
    credentials = {"client_id": admin_client.client_id, "client_secret": body["admin_client"]["client_secret"]}
    issued = DjangoTestClient().post("/o/token/", {"grant_type": "client_credentials", **credentials})
    assert issued.status_code == 200, issued.content
    assert "tenant:admin" in issued.json()["scope"].split()
    new_admin = APIClient()
    new_admin.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.json()['access_token']}")
    assert new_admin.get("/api/v1/tenant/config").json()["config"] == {"otp": {"length": 8}}


def test_onboarding_with_bad_config_names_the_path_and_creates_nothing(operator):
    payload = {"slug": "cafe", "name": "Café", "contact_email": "it@cafe.example", "config": {"otp": {"length": 1}}}
    assert_problem(operator.post("/api/v1/tenants", payload, format="json"), 400, path="/config/otp/length")
    assert not Tenant.objects.filter(slug="cafe").exists()
    assert not Client.objects.filter(name="Café admin").exists()


def test_onboarding_an_existing_slug_is_a_conflict(operator):
    payload = {"slug": "acme", "name": "Again", "contact_email": "it@acme.example"}
    assert_problem(operator.post("/api/v1/tenants", payload, format="json"), 409)


@pytest.mark.django_db(transaction=True)
def test_onboarding_that_loses_a_race_for_its_slug_is_a_conflict(operator):
    """Two onboardings of one slug at once: the loser answers 409 like a sequential duplicate."""
    operator.raise_request_exception = False
    answer = answer_while_a_create_commits_late(
        create=lambda: tenant_onboard(
            actor=Actor.system("tests"), slug="cafe", name="First", contact_email="it@cafe.example"
        ),
        request=lambda: operator.post(
            "/api/v1/tenants", {"slug": "cafe", "name": "Second", "contact_email": "ops@cafe.example"}, format="json"
        ),
    )
    assert_problem(answer, 409)
    assert Tenant.objects.get(slug="cafe").name == "First"
    assert Client.objects.filter(tenant__slug="cafe").count() == 1


def test_operator_suspends_a_tenant_and_its_tokens_stop_working(operator, world, acme_admin):
    response = operator.patch("/api/v1/tenants/acme", {"status": "suspended"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    assert_problem(acme_admin.get("/api/v1/tenant"), 401)
    operator.patch("/api/v1/tenants/acme", {"status": "active"}, format="json")
    assert acme_admin.get("/api/v1/tenant").status_code == 200


def test_operator_lists_tenants(operator):
    slugs = {tenant["slug"] for tenant in operator.get("/api/v1/tenants").json()["results"]}
    assert {"acme", "bolt", "platform"} <= slugs


def test_tenant_admins_cannot_act_as_operators(world, acme_admin):
    assert_problem(acme_admin.delete("/api/v1/tenants/bolt"), 403)
    assert_problem(acme_admin.get("/api/v1/tenants"), 403)
    assert_problem(
        acme_admin.post("/api/v1/tenants", {"slug": "x", "name": "x", "contact_email": "a@b.c"}, format="json"), 403
    )
    assert_problem(acme_admin.patch("/api/v1/tenants/bolt", {"status": "suspended"}, format="json"), 403)
    assert Tenant.objects.get(slug="bolt").is_active


def test_operator_deletes_a_tenant_for_good(operator, world, acme_admin):
    assert world.alice.pk in set(user_ids_with_current_consent(purpose=world.acme.newsletter))
    assert operator.delete("/api/v1/tenants/acme").status_code == 204
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.status == "deleted"
    assert_problem(acme_admin.get("/api/v1/tenant"), 401)
    assert not Client.objects.filter(tenant=tenant, disabled_at__isnull=True).exists()
    assert world.alice.pk not in set(user_ids_with_current_consent(purpose=world.acme.newsletter))
    assert ConsentRecord.all_tenants.filter(tenant=tenant).exists(), "the proof stays"
    assert_problem(operator.patch("/api/v1/tenants/acme", {"status": "active"}, format="json"), 409)
    assert operator.delete("/api/v1/tenants/acme").status_code == 204  # idempotent
    assert Tenant.objects.get(slug="bolt").is_active


def test_deletion_is_not_a_status_patch(operator, world):
    assert_problem(operator.patch("/api/v1/tenants/bolt", {"status": "deleted"}, format="json"), 400, path="/status")
    assert Tenant.objects.get(slug="bolt").is_active
