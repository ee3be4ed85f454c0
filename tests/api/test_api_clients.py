from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consents.models import Channel
from consents.services import consent_grant
from harbourmaster.actors import Actor
from tenants.models import Client, ClientSecret
from tests.api.conftest import assert_problem
from tests.token_requests import token_status


def test_list_shows_own_clients_without_secrets(world, acme_admin):
    response = acme_admin.get("/api/v1/clients")
    assert response.status_code == 200
    results = response.json()["results"]
    assert {c["client_id"] for c in results} == {world.acme.backend.client_id, world.acme.app.client_id}
    assert world.acme.backend_secret not in response.content.decode()
    backend = next(c for c in results if c["client_id"] == world.acme.backend.client_id)
    assert backend["secrets"][0]["masked"].startswith(world.acme.backend_secret[:8])
    assert "client_secret" not in backend


def test_another_tenants_client_is_404_like_a_missing_one(world, acme_admin):
    foreign = acme_admin.get(f"/api/v1/clients/{world.bolt.backend.client_id}")
    missing = acme_admin.get("/api/v1/clients/no-such-client")
    assert_problem(foreign, 404)
    assert foreign.json() == missing.json()
    for verb, url in [
        ("patch", f"/api/v1/clients/{world.bolt.app.client_id}"),
        ("delete", f"/api/v1/clients/{world.bolt.app.client_id}"),
        ("post", f"/api/v1/clients/{world.bolt.backend.client_id}/rotate"),
        ("post", f"/api/v1/clients/{world.bolt.backend.client_id}/disable"),
        ("post", f"/api/v1/clients/{world.bolt.backend.client_id}/enable"),
    ]:
        assert_problem(getattr(acme_admin, verb)(url, {}, format="json"), 404)
    assert Client.objects.filter(pk=world.bolt.app.pk, disabled_at__isnull=True).exists()


def test_create_confidential_client_returns_secret_once(world, acme_admin):
    response = acme_admin.post(
        "/api/v1/clients",
        {
            "name": "CRM",
            "client_type": "confidential",
            "grant_type": "client-credentials",
            "allowed_scopes": ["users:read"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    client = Client.objects.get(client_id=body["client_id"])
    assert client.tenant == world.acme.tenant
    assert token_status(client, body["client_secret"]) == 200
    again = acme_admin.get(f"/api/v1/clients/{client.client_id}").json()
    assert "client_secret" not in again and body["client_secret"] not in str(again)


def test_create_public_app_client(world, acme_admin):
    response = acme_admin.post(
        "/api/v1/clients",
        {
            "name": "iOS app",
            "client_type": "public",
            "grant_type": "authorization-code",
            "redirect_uris": ["https://app.acme.example/cb"],
            "allowed_scopes": ["openid", "email"],
            "first_party": False,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["client_secret"] is None and body["first_party"] is False
    assert body["redirect_uris"] == ["https://app.acme.example/cb"]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"tenant": "bolt"}, "/tenant"),
        ({"created": "2020-01-01T00:00:00Z"}, "/created"),
        ({"allowed_scopes": ["platform:admin"]}, "/allowed_scopes"),
        ({"grant_type": "password"}, "/grant_type"),
        ({"client_type": "public"}, "/authorization_grant_type"),
        ({"redirect_uris": ["not a url"]}, "/redirect_uris/0"),
    ],
)
def test_create_refuses_what_a_client_may_not_set(world, api_as, payload, path):
    api = api_as(world.acme.backend, ["tenant:admin", "users:read"])
    base = {
        "name": "X",
        "client_type": "confidential",
        "grant_type": "client-credentials",
        "allowed_scopes": ["users:read"],
    }
    before = Client.objects.count()
    assert_problem(api.post("/api/v1/clients", base | payload, format="json"), 400, path=path)
    assert Client.objects.count() == before


def test_create_refuses_scopes_beyond_the_callers_own(world, api_as):
    api = api_as(world.acme.backend, ["tenant:admin"])
    payload = {
        "name": "X",
        "client_type": "confidential",
        "grant_type": "client-credentials",
        "allowed_scopes": ["users:write"],
    }
    assert_problem(api.post("/api/v1/clients", payload, format="json"), 400, path="/allowed_scopes")


def test_update_client(world, acme_admin):
    response = acme_admin.patch(
        f"/api/v1/clients/{world.acme.app.client_id}",
        {"name": "Web", "redirect_uris": ["https://web.acme.example/cb"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    world.acme.app.refresh_from_db()
    assert (world.acme.app.name, world.acme.app.redirect_uris) == ("Web", "https://web.acme.example/cb")
    assert_problem(
        acme_admin.patch(f"/api/v1/clients/{world.acme.app.client_id}", {"client_type": "confidential"}, format="json"),
        400,
    )


def test_rotation_overlap_keeps_both_secrets_working(world, acme_admin, api_as):
    other, old_secret = world.acme.backend, world.acme.backend_secret
    assert token_status(other, old_secret) == 200  # the client is cached before the rotation
    admin = api_as(world.acme.app, ["tenant:admin", "users:read"])  # another client's token, holding its scopes
    response = admin.post(f"/api/v1/clients/{other.client_id}/rotate", {"overlap_seconds": 3600}, format="json")
    assert response.status_code == 201, response.content
    new_secret = response.json()["client_secret"]
    assert token_status(other, old_secret) == 200
    assert token_status(other, new_secret) == 200
    listed = acme_admin.get(f"/api/v1/clients/{other.client_id}").json()["secrets"]
    assert len([secret for secret in listed if secret["active"]]) == 2


def test_rotation_without_overlap_ends_old_secret(world, acme_admin):
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200  # cached before the rotation
    response = acme_admin.post(f"/api/v1/clients/{world.acme.backend.client_id}/rotate", {}, format="json")
    assert response.status_code == 201
    assert token_status(world.acme.backend, world.acme.backend_secret) == 401
    assert token_status(world.acme.backend, response.json()["client_secret"]) == 200
    assert_problem(
        acme_admin.post(
            f"/api/v1/clients/{world.acme.backend.client_id}/rotate", {"overlap_seconds": -1}, format="json"
        ),
        400,
        path="/overlap_seconds",
    )


def test_a_rotation_answers_when_the_first_previous_secret_stops_working(world, acme_admin):
    """A second rotation only shortens overlaps: the secret given 1 h by the first keeps
    1 h, so the answer to a second rotation asking 2 h is 1 h, not 2 h."""
    url = f"/api/v1/clients/{world.acme.backend.client_id}/rotate"
    first = acme_admin.post(url, {"overlap_seconds": 3600}, format="json")
    assert first.status_code == 201
    second = acme_admin.post(url, {"overlap_seconds": 7200}, format="json")
    assert second.status_code == 201
    listed = acme_admin.get(f"/api/v1/clients/{world.acme.backend.client_id}").json()["secrets"]
    expiries = sorted(parse_datetime(secret["expires_at"]) for secret in listed if secret["expires_at"])
    assert len(expiries) == 2 and expiries[1] - expiries[0] > timedelta(minutes=59)
    assert parse_datetime(second.json()["previous_secrets_expire_at"]) == expiries[0]
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200
    assert token_status(world.acme.backend, first.json()["client_secret"]) == 200


def test_a_rotation_after_the_last_secret_was_revoked_answers_that_nothing_previous_works(world, acme_admin):
    """The only secret left from before is already revoked: no previous secret works past now,
    whatever overlap was asked for."""
    secret = ClientSecret.all_tenants.get(client=world.acme.backend)
    assert acme_admin.delete(f"/api/v1/clients/{world.acme.backend.client_id}/secrets/{secret.pk}").status_code == 204
    before = timezone.now()
    rotated = acme_admin.post(
        f"/api/v1/clients/{world.acme.backend.client_id}/rotate", {"overlap_seconds": 3600}, format="json"
    )
    assert rotated.status_code == 201
    assert parse_datetime(rotated.json()["previous_secrets_expire_at"]) - before < timedelta(minutes=1)


def test_disable_kills_the_clients_tokens_at_once(world, api_as):
    admin = api_as(world.acme.backend, ["tenant:admin"])
    victim_api = api_as(world.acme.app, ["tenant:admin"])
    assert victim_api.get("/api/v1/tenant").status_code == 200
    response = admin.post(f"/api/v1/clients/{world.acme.app.client_id}/disable")
    assert response.status_code == 200 and response.json()["disabled_at"]
    assert_problem(victim_api.get("/api/v1/tenant"), 401)
    assert admin.post(f"/api/v1/clients/{world.acme.app.client_id}/enable").json()["disabled_at"] is None


def test_a_client_cannot_disable_or_delete_itself(world, acme_admin):
    assert_problem(acme_admin.post(f"/api/v1/clients/{world.acme.backend.client_id}/disable"), 409)
    assert_problem(acme_admin.delete(f"/api/v1/clients/{world.acme.backend.client_id}"), 409)


def test_revoke_one_secret(world, acme_admin):
    secret = ClientSecret.all_tenants.get(client=world.acme.backend)
    url = f"/api/v1/clients/{world.acme.backend.client_id}/secrets/{secret.pk}"
    assert token_status(world.acme.backend, world.acme.backend_secret) == 200  # cached before the revocation
    assert acme_admin.delete(url).status_code == 204
    assert token_status(world.acme.backend, world.acme.backend_secret) == 401


def test_revoking_another_tenants_secret_is_404(world, acme_admin):
    foreign = ClientSecret.all_tenants.get(client=world.bolt.backend)
    assert_problem(acme_admin.delete(f"/api/v1/clients/{world.acme.backend.client_id}/secrets/{foreign.pk}"), 404)
    assert token_status(world.bolt.backend, world.bolt.backend_secret) == 200


def test_delete_unused_client(world, acme_admin):
    assert acme_admin.delete(f"/api/v1/clients/{world.acme.app.client_id}").status_code == 204
    assert not Client.objects.filter(pk=world.acme.app.pk).exists()


def test_client_named_in_records_cannot_be_deleted(world, api_as):
    consent_grant(
        actor=Actor.system("t"), user=world.carol, purpose=world.acme.postal, channel=Channel.API, client=world.acme.app
    )
    admin = api_as(world.acme.backend, ["tenant:admin"])
    body = assert_problem(admin.delete(f"/api/v1/clients/{world.acme.app.client_id}"), 409)
    assert "disable it instead" in body["detail"]
    assert Client.objects.filter(pk=world.acme.app.pk).exists()


# --- Allowed origins (browser apps, decision 32) ----------------------------------------------

APP_CLIENT = {
    "name": "Web app",
    "client_type": "public",
    "grant_type": "authorization-code",
    "redirect_uris": ["https://web.acme.example/cb"],
    "allowed_scopes": ["openid"],
}


def test_create_app_client_with_allowed_origins_stores_them_normalized(world, acme_admin):
    origins = ["https://Web.Acme.example:443", "https://web.acme.example:8443"]
    response = acme_admin.post("/api/v1/clients", APP_CLIENT | {"allowed_origins": origins}, format="json")
    assert response.status_code == 201, response.content
    expected = ["https://web.acme.example", "https://web.acme.example:8443"]
    assert response.json()["allowed_origins"] == expected
    client = Client.objects.get(client_id=response.json()["client_id"])
    assert client.allowed_origins == " ".join(expected)
    assert client.origin_allowed("https://web.acme.example")  # the toolkit reads them too
    assert acme_admin.get(f"/api/v1/clients/{client.client_id}").json()["allowed_origins"] == expected
    assert acme_admin.get(f"/api/v1/clients/{world.acme.backend.client_id}").json()["allowed_origins"] == []


def test_patch_replaces_the_allowed_origins(world, acme_admin):
    url = f"/api/v1/clients/{world.acme.app.client_id}"
    first = acme_admin.patch(url, {"allowed_origins": ["https://a.acme.example"]}, format="json")
    assert first.status_code == 200 and first.json()["allowed_origins"] == ["https://a.acme.example"]
    second = acme_admin.patch(url, {"allowed_origins": ["https://b.acme.example"]}, format="json")
    assert second.json()["allowed_origins"] == ["https://b.acme.example"]
    untouched = acme_admin.patch(url, {"name": "Web"}, format="json")
    assert untouched.json()["allowed_origins"] == ["https://b.acme.example"]
    assert acme_admin.patch(url, {"allowed_origins": []}, format="json").json()["allowed_origins"] == []
    world.acme.app.refresh_from_db()
    assert world.acme.app.allowed_origins == ""


@pytest.mark.parametrize(
    "origins",
    [
        pytest.param(["https://web.acme.example/app"], id="path"),
        pytest.param(["https://web.acme.example/"], id="trailing slash"),
        pytest.param(["https://web.acme.example?x=1"], id="query"),
        pytest.param(["https://web.acme.example#top"], id="fragment"),
        pytest.param(["https://user@web.acme.example"], id="userinfo"),
        pytest.param(["http://web.acme.example"], id="http not on localhost"),
        pytest.param(["https://*.acme.example"], id="wildcard"),
        pytest.param(["web.acme.example"], id="no scheme"),
        pytest.param(["https://web.acme.example", "https://WEB.acme.example:443"], id="duplicate"),
        pytest.param([f"https://web{n}.acme.example" for n in range(21)], id="too many"),
    ],
)
def test_bad_allowed_origins_are_refused_and_change_nothing(world, acme_admin, origins):
    before = Client.objects.count()
    created = acme_admin.post("/api/v1/clients", APP_CLIENT | {"allowed_origins": origins}, format="json")
    assert_problem(created, 400, path="/allowed_origins")
    assert Client.objects.count() == before
    url = f"/api/v1/clients/{world.acme.app.client_id}"
    acme_admin.patch(url, {"allowed_origins": ["https://app.acme.example"]}, format="json")
    patched = acme_admin.patch(url, {"name": "Renamed", "allowed_origins": origins}, format="json")
    assert_problem(patched, 400, path="/allowed_origins")
    world.acme.app.refresh_from_db()
    assert world.acme.app.name != "Renamed" and world.acme.app.allowed_origins == "https://app.acme.example"


def test_a_client_credentials_client_has_no_allowed_origins(world, acme_admin):
    machine = {"name": "CRM", "client_type": "confidential", "grant_type": "client-credentials"}
    body = assert_problem(
        acme_admin.post("/api/v1/clients", machine | {"allowed_origins": ["https://crm.acme.example"]}, format="json"),
        400,
        path="/allowed_origins",
    )
    assert "authorization-code" in str(body["errors"])
    url = f"/api/v1/clients/{world.acme.backend.client_id}"
    assert_problem(acme_admin.patch(url, {"allowed_origins": ["https://crm.acme.example"]}, format="json"), 400)
    world.acme.backend.refresh_from_db()
    assert world.acme.backend.allowed_origins == ""


def test_http_origins_only_for_localhost_in_development(world, acme_admin, settings):
    url = f"/api/v1/clients/{world.acme.app.client_id}"
    # Development: redirect URIs may be http, and so may the toolkit's origins (its ALLOWED_SCHEMES).
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_SCHEMES": ["https", "http"]}
    local = ["http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000"]
    assert acme_admin.patch(url, {"allowed_origins": local}, format="json").json()["allowed_origins"] == local
    assert_problem(
        acme_admin.patch(url, {"allowed_origins": ["http://web.acme.example"]}, format="json"),
        400,
        path="/allowed_origins",
    )
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["https"]}  # production's
    assert_problem(
        acme_admin.patch(url, {"allowed_origins": ["http://localhost:5173"]}, format="json"),
        400,
        path="/allowed_origins",
    )


def test_another_tenants_clients_origins_cannot_be_patched(world, acme_admin):
    url = f"/api/v1/clients/{world.bolt.app.client_id}"
    assert_problem(acme_admin.patch(url, {"allowed_origins": ["https://evil.example"]}, format="json"), 404)
    world.bolt.app.refresh_from_db()
    assert world.bolt.app.allowed_origins == ""
