import pytest

from consents.models import Purpose, PurposeVersion
from consents.selectors import consent_is_current
from consents.services import purpose_create
from harbourmaster.actors import Actor
from tests.api.conftest import assert_problem
from tests.api.races import answer_while_a_create_commits_late


def test_list_shows_own_purposes_with_versions(world, acme_admin):
    results = acme_admin.get("/api/v1/purposes").json()["results"]
    assert {p["slug"] for p in results} == {"newsletter", "postal-marketing"}
    newsletter = next(p for p in results if p["slug"] == "newsletter")
    assert newsletter["versions"][0]["version"] == 1 and newsletter["data_categories"] == ["email"]


def test_systems_with_data_scopes_may_read_purposes_but_not_change_them(world, api_as):
    api = api_as(world.acme.backend, ["consents:write"])
    assert api.get("/api/v1/purposes/newsletter").status_code == 200
    assert_problem(api.post("/api/v1/purposes/newsletter/retire"), 403)


def test_declare_a_purpose(world, acme_admin):
    response = acme_admin.post(
        "/api/v1/purposes",
        {"slug": "sms-offers", "name": "SMS offers", "data_categories": ["phone"], "statement": "Texts about offers."},
        format="json",
    )
    assert response.status_code == 201, response.content
    purpose = Purpose.all_tenants.get(tenant=world.acme.tenant, slug="sms-offers")
    assert purpose.data_categories == ["phone"]
    assert response.json()["versions"][0]["statement"] == "Texts about offers."


def test_purpose_slug_already_taken_is_a_conflict(world, acme_admin):
    payload = {"slug": "newsletter", "name": "N", "statement": "S"}
    assert_problem(acme_admin.post("/api/v1/purposes", payload, format="json"), 409)


def test_another_tenant_may_use_the_same_slug(world, bolt_admin):
    payload = {"slug": "sms-offers", "name": "N", "statement": "S"}
    assert bolt_admin.post("/api/v1/purposes", payload, format="json").status_code == 201


def test_bad_purpose_is_refused_with_paths(world, acme_admin):
    payload = {"slug": "x y", "name": "N", "statement": "", "data_categories": ["shoe-size"], "tenant": 1}
    body = assert_problem(acme_admin.post("/api/v1/purposes", payload, format="json"), 400)
    assert {error["path"] for error in body["errors"]} == {"/tenant"}
    del payload["tenant"]
    body = assert_problem(acme_admin.post("/api/v1/purposes", payload, format="json"), 400)
    assert {error["path"] for error in body["errors"]} == {"/slug", "/statement", "/data_categories/0"}
    assert not Purpose.all_tenants.filter(name="N").exists()


def test_publish_a_statement_that_asks_users_again(world, acme_admin):
    response = acme_admin.post(
        "/api/v1/purposes/newsletter/versions", {"statement": "Now weekly.", "requires_reconsent": True}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2
    assert not consent_is_current(user=world.alice, purpose=world.acme.newsletter)


def test_retire_a_purpose(world, acme_admin):
    body = acme_admin.post("/api/v1/purposes/newsletter/retire").json()
    assert body["status"] == "retired" and body["retired_at"]
    assert_problem(acme_admin.post("/api/v1/purposes/newsletter/versions", {"statement": "x"}, format="json"), 409)


def test_another_tenants_purpose_is_404_like_a_missing_one(world, acme_admin):
    purpose = world.bolt.postal
    for verb, url in [
        ("get", "/api/v1/purposes/postal-marketing-x"),
        ("post", f"/api/v1/purposes/{purpose.slug}-x/retire"),
    ]:
        assert_problem(getattr(acme_admin, verb)(url), 404)
    # Both tenants have "postal-marketing": acme's call touches only acme's.
    acme_admin.post("/api/v1/purposes/postal-marketing/retire")
    assert Purpose.all_tenants.get(pk=world.bolt.postal.pk).is_active
    assert PurposeVersion.objects.filter(purpose=world.bolt.postal).count() == 1


def test_purpose_of_a_tenant_with_a_unique_slug_is_invisible_to_others(world, acme_admin, bolt_admin):
    bolt_admin.post("/api/v1/purposes", {"slug": "loyalty", "name": "Loyalty", "statement": "S"}, format="json")
    foreign = acme_admin.get("/api/v1/purposes/loyalty")
    missing = acme_admin.get("/api/v1/purposes/does-not-exist")
    assert_problem(foreign, 404)
    assert foreign.json() == missing.json()
    assert_problem(acme_admin.post("/api/v1/purposes/loyalty/versions", {"statement": "mine now"}, format="json"), 404)
    # Nor listed: acme's list holds exactly acme's purposes, by id.
    listed = {purpose["slug"] for purpose in acme_admin.get("/api/v1/purposes").json()["results"]}
    assert "loyalty" not in listed
    assert (
        len(acme_admin.get("/api/v1/purposes").json()["results"])
        == Purpose.all_tenants.filter(tenant=world.acme.tenant).count()
    )


@pytest.mark.django_db(transaction=True)
def test_a_purpose_create_that_loses_a_race_for_its_slug_is_a_conflict(world, acme_admin):
    """The view's check passes while another create of the slug is uncommitted; the insert
    then fails on the unique index: the caller hears 409, as for a sequential duplicate."""
    acme_admin.raise_request_exception = False
    answer = answer_while_a_create_commits_late(
        create=lambda: purpose_create(
            actor=Actor.system("tests"), tenant=world.acme.tenant, slug="loyalty", name="L", statement="Points."
        ),
        request=lambda: acme_admin.post(
            "/api/v1/purposes", {"slug": "loyalty", "name": "Loyalty", "statement": "We send points."}, format="json"
        ),
    )
    body = assert_problem(answer, 409)
    assert "slug" in body["detail"]
    assert Purpose.all_tenants.get(tenant=world.acme.tenant, slug="loyalty").name == "L"
