from tenants.models import Tenant, TenantConfigRevision
from tests.api.conftest import assert_problem


def test_tenant_reads_itself(world, acme_admin):
    body = acme_admin.get("/api/v1/tenant").json()
    assert (body["slug"], body["name"], body["status"]) == ("acme", "Acme", "active")


def test_tenant_renames_itself(world, acme_admin):
    response = acme_admin.patch("/api/v1/tenant", {"name": "Acme Media"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Acme Media"
    assert Tenant.objects.get(slug="acme").name == "Acme Media"
    assert Tenant.objects.get(slug="bolt").name == "Bolt"


def test_fields_a_tenant_may_not_set_are_refused(world, acme_admin):
    response = acme_admin.patch("/api/v1/tenant", {"name": "X", "slug": "bolt", "status": "active"}, format="json")
    body = assert_problem(response, 400)
    assert {error["path"] for error in body["errors"]} == {"/slug", "/status"}
    assert Tenant.objects.get(pk=world.acme.tenant.pk).name == "Acme"


def test_config_read_gives_choices_defaults_and_etag(world, acme_admin):
    response = acme_admin.get("/api/v1/tenant/config")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["config"] == {"allowed_scopes": ["openid", "profile", "email", "address"]}
    assert body["effective"]["otp"]["length"] == 6


def test_config_replace_needs_if_match(world, acme_admin):
    assert_problem(acme_admin.put("/api/v1/tenant/config", {"otp": {"length": 8}}, format="json"), 428)
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config_version == 1


def test_config_replace_takes_effect_on_the_next_request(world, acme_admin):
    response = acme_admin.put("/api/v1/tenant/config", {"otp": {"length": 8}}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200 and response["ETag"] == '"2"'
    after = acme_admin.get("/api/v1/tenant/config").json()
    assert after["config"] == {"otp": {"length": 8}} and after["effective"]["otp"]["length"] == 8
    assert after["effective"]["allowed_scopes"] == ["openid", "profile", "email"]


def test_config_merge_patch(world, acme_admin):
    response = acme_admin.patch(
        "/api/v1/tenant/config",
        '{"otp": {"length": 7}, "allowed_scopes": null}',
        content_type="application/merge-patch+json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200, response.content
    assert response.json()["config"] == {"otp": {"length": 7}}


def test_stale_write_is_refused_and_changes_nothing(world, acme_admin, api_as):
    other_admin = api_as(world.acme.backend, ["tenant:admin"])
    assert (
        acme_admin.patch(
            "/api/v1/tenant/config", {"otp": {"length": 8}}, format="json", HTTP_IF_MATCH='"1"'
        ).status_code
        == 200
    )
    stale = other_admin.patch("/api/v1/tenant/config", {"otp": {"length": 4}}, format="json", HTTP_IF_MATCH='"1"')
    body = assert_problem(stale, 412)
    assert "version 2" in body["detail"]
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config["otp"] == {"length": 8}


def test_bad_config_names_path_and_reason_and_changes_nothing(world, acme_admin):
    response = acme_admin.put(
        "/api/v1/tenant/config",
        {"otp": {"length": 99}, "branding": {"primary_color": "red"}},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    body = assert_problem(response, 400)
    assert body["errors"] == [
        {"path": "/branding/primary_color", "message": "'red' does not match '^#[0-9a-fA-F]{6}$'"},
        {"path": "/otp/length", "message": "99 is greater than the maximum of 10"},
    ]
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config_version == 1
    assert TenantConfigRevision.objects.filter(tenant=world.acme.tenant).count() == 1


def test_config_body_must_be_an_object(world, acme_admin):
    assert_problem(acme_admin.put("/api/v1/tenant/config", [1, 2], format="json", HTTP_IF_MATCH='"1"'), 400, path="/")


def test_malformed_json_is_a_problem_not_a_crash(world, acme_admin):
    response = acme_admin.put("/api/v1/tenant/config", "{nope", content_type="application/json", HTTP_IF_MATCH='"1"')
    assert_problem(response, 400)


def test_config_history_is_kept_and_paginated(world, acme_admin):
    for version, length in ((1, 5), (2, 6), (3, 7)):
        acme_admin.put(
            "/api/v1/tenant/config", {"otp": {"length": length}}, format="json", HTTP_IF_MATCH=f'"{version}"'
        )
    first = acme_admin.get("/api/v1/tenant/config/revisions?page_size=2").json()
    assert [revision["version"] for revision in first["results"]] == [4, 3]
    second = acme_admin.get(first["next"]).json()
    assert [revision["version"] for revision in second["results"]] == [2, 1]
    assert second["next"] is None


def test_each_tenant_sees_only_its_own_config(world, acme_admin, bolt_admin):
    acme_admin.put("/api/v1/tenant/config", {"otp": {"length": 9}}, format="json", HTTP_IF_MATCH='"1"')
    assert bolt_admin.get("/api/v1/tenant/config").json()["effective"]["otp"]["length"] == 6
    assert [r["version"] for r in bolt_admin.get("/api/v1/tenant/config/revisions").json()["results"]] == [1]
    assert bolt_admin.get("/api/v1/tenant").json()["slug"] == "bolt"


def test_options_is_not_offered(world, acme_admin):
    for url in ("/api/v1/tenant/config", "/api/v1/tenant", "/api/v1/clients", "/api/v1/purposes"):
        assert_problem(acme_admin.options(url), 405)


def test_oversized_body_is_refused_with_413_and_nothing_changes(world, acme_admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = {"branding": {"display_name": "x" * 80}, "padding": "y" * 2000}
    assert_problem(acme_admin.put("/api/v1/tenant/config", big, format="json", HTTP_IF_MATCH='"1"'), 413)
    assert Tenant.objects.get(pk=world.acme.tenant.pk).config_version == 1


def test_every_answer_carries_a_request_id(world, acme_admin):
    assert acme_admin.get("/api/v1/tenant", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = acme_admin.get("/api/v1/tenant", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated
