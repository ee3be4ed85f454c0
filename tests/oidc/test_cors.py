"""Browser apps at the token, userinfo and revocation endpoints (accounts.oidc.cors, decision 32):
an answer names the request's Origin when the client it is for allows that origin, errors
included; nothing else is opened, to no one else."""

import base64
from datetime import timedelta

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test import Client as DjangoTestClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from harbourmaster.actors import Actor
from tenants.models import Client
from tenants.selectors import access_token_checksum, clients_by_allowed_origin
from tenants.services import (
    client_create,
    client_delete,
    client_disable,
    client_update,
    tenant_config_update,
    tenant_suspend,
)
from tests.oidc.test_claims_parameter import PASSWORD_RECORD, code_from
from tests.oidc.test_cross_tenant_tokens import client_credentials
from tests.test_signin_policy import VERIFIER, authorize_path, signed_in

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
APP_ORIGIN = "https://app.acme.example"  # Acme's single-page app
SHOP_ORIGIN = "https://shop.bolt.example"  # Bolt's
STRANGER_ORIGIN = "https://elsewhere.example"
# Not APP_ORIGIN, though close to it: each is granted nothing.
LOOKALIKE_ORIGINS = [
    "http://app.acme.example",  # another scheme
    "https://app.acme.example:444",  # another port
    "https://app.acme.example.evil.test",  # APP_ORIGIN as a prefix of someone else's host
    "null",  # what a sandboxed frame or a file:// page sends
]


@pytest.fixture
def spa(world):
    """Acme's and Bolt's public clients, each allowing its own app's origin."""
    client_update(actor=SYSTEM, client=world.acme.app, changes={"allowed_origins": [APP_ORIGIN]})
    client_update(actor=SYSTEM, client=world.bolt.app, changes={"allowed_origins": [SHOP_ORIGIN]})
    cache.clear()  # the changes' tombstones would send every read of the clients to the database
    return world


def cors_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def assert_readable_by(response, origin: str) -> None:
    assert response["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response  # no cookies at these endpoints


def code_of(client, app, user) -> str:
    signed_in(client, user, PASSWORD_RECORD)
    return code_from(client.get(authorize_path(app)))


def exchange(client, app, code: str, origin: str | None = APP_ORIGIN):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uris.split()[0],
        "client_id": app.client_id,
        "code_verifier": VERIFIER,
    }
    return client.post("/o/token/", body, **headers)


def preflight(path: str, origin: str, method: str = "POST"):
    return DjangoTestClient().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


def signed_in_token(spa) -> str:
    client = DjangoTestClient()
    answer = exchange(client, spa.acme.app, code_of(client, spa.acme.app, spa.alice))
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


# --- The token endpoint ------------------------------------------------------------------


def test_a_code_exchange_from_an_allowed_origin_is_readable(client, spa):
    answer = exchange(client, spa.acme.app, code_of(client, spa.acme.app, spa.alice))
    assert answer.status_code == 200 and "access_token" in answer.json()
    assert_readable_by(answer, APP_ORIGIN)


def test_invalid_grant_is_readable_so_the_app_can_sign_in_again(client, spa):
    code = code_of(client, spa.acme.app, spa.alice)
    assert exchange(client, spa.acme.app, code).status_code == 200
    again = exchange(client, spa.acme.app, code)  # a spent code
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert_readable_by(again, APP_ORIGIN)


def test_another_origin_reads_nothing_of_a_success_or_an_error(client, spa):
    code = code_of(client, spa.acme.app, spa.alice)
    answer = exchange(client, spa.acme.app, code, origin=STRANGER_ORIGIN)
    assert answer.status_code == 200
    assert cors_headers(answer) == {}
    again = exchange(client, spa.acme.app, code, origin=STRANGER_ORIGIN)
    assert again.status_code == 400 and cors_headers(again) == {}


def test_another_tenants_clients_origin_does_not_open_this_tenants_client(client, spa):
    answer = exchange(client, spa.acme.app, code_of(client, spa.acme.app, spa.alice), origin=SHOP_ORIGIN)
    assert answer.status_code == 200
    assert cors_headers(answer) == {}
    made_up = exchange(client, spa.bolt.app, "made-up", origin=APP_ORIGIN)
    assert made_up.status_code == 400 and cors_headers(made_up) == {}


def test_the_client_id_of_http_basic_decides(spa):
    caller = DjangoTestClient(HTTP_ORIGIN=APP_ORIGIN)
    backend = caller.post(  # a client-credentials client, which allows no origin
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic(spa.acme.backend.client_id, "guess")
    )
    assert backend.status_code == 401 and cors_headers(backend) == {}
    named_app = caller.post(
        "/o/token/",
        {"grant_type": "authorization_code", "code": "made-up", "client_id": spa.acme.app.client_id},
        HTTP_AUTHORIZATION=basic(spa.acme.app.client_id, "guess"),
    )
    assert named_app.status_code == 401 and named_app.json()["error"] == "invalid_client"
    assert_readable_by(named_app, APP_ORIGIN)  # CORS reads the id; the view refused the secret


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_an_origin_costs_no_query(client, spa):
    app = spa.acme.app
    signed_in(client, spa.alice, PASSWORD_RECORD)
    exchange(client, app, code_from(client.get(authorize_path(app))))  # the client is cached
    counts = []
    for origin in (None, APP_ORIGIN):
        code = code_from(client.get(authorize_path(app)))
        with CaptureQueriesContext(connection) as queries:
            assert exchange(client, app, code, origin=origin).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_request_without_origin_gets_no_cors_headers(client, spa):
    answer = exchange(client, spa.acme.app, code_of(client, spa.acme.app, spa.alice), origin=None)
    assert answer.status_code == 200 and cors_headers(answer) == {}


def test_a_request_without_origin_does_not_vary_by_origin(client, spa):
    answer = exchange(client, spa.acme.app, "made-up", origin=None)
    assert answer.status_code == 400 and "Origin" not in answer.get("Vary", "")


@pytest.mark.parametrize("origin", LOOKALIKE_ORIGINS)
def test_an_origin_close_to_an_allowed_one_reads_nothing(client, spa, origin):
    code = code_of(client, spa.acme.app, spa.alice)
    answer = exchange(client, spa.acme.app, code, origin=origin)
    assert answer.status_code == 200 and cors_headers(answer) == {}
    assert "Origin" in answer["Vary"]  # refused or granted, the answer depends on Origin
    refused = exchange(client, spa.acme.app, code, origin=origin)
    assert refused.status_code == 400 and cors_headers(refused) == {}
    assert "Origin" in refused["Vary"]


def test_a_429_over_the_budget_keeps_its_single_star(settings, spa):
    settings.API_FAILED_AUTHENTICATIONS_PER_MINUTE = 2
    browser = DjangoTestClient(REMOTE_ADDR="203.0.113.40")
    for _ in range(2):
        assert_readable_by(exchange(browser, spa.acme.app, "made-up"), APP_ORIGIN)
    throttled = exchange(browser, spa.acme.app, "made-up")
    assert throttled.status_code == 429
    assert throttled["Access-Control-Allow-Origin"] == "*"


# --- Preflights ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/o/token/", "/o/revoke_token/"])
def test_a_preflight_from_an_allowed_origin_is_granted(spa, path):
    answer = preflight(path, APP_ORIGIN)
    assert answer.status_code == 200
    assert_readable_by(answer, APP_ORIGIN)
    assert answer["Access-Control-Allow-Methods"] == "POST"
    assert answer["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert answer["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize("path", ["/o/token/", "/o/revoke_token/", "/o/userinfo/", "/o/introspect/"])
def test_a_preflight_from_an_origin_no_client_allows_gets_no_grant(spa, path):
    answer = preflight(path, STRANGER_ORIGIN)
    assert answer.status_code == 200 and "OPTIONS" in answer["Allow"]
    assert cors_headers(answer) == {}


def test_a_deleted_clients_origin_leaves_the_index_at_once(spa):
    assert clients_by_allowed_origin()[APP_ORIGIN] == [spa.acme.app.client_id]
    client_delete(actor=SYSTEM, client=spa.acme.app)
    assert APP_ORIGIN not in clients_by_allowed_origin()
    assert cors_headers(preflight("/o/token/", APP_ORIGIN)) == {}


@pytest.mark.parametrize("origin", LOOKALIKE_ORIGINS)
def test_a_preflight_from_an_origin_close_to_an_allowed_one_gets_no_grant(spa, origin):
    answer = preflight("/o/token/", origin)
    assert answer.status_code == 200 and cors_headers(answer) == {}
    assert "Origin" in answer["Vary"]


def cache_calls(monkeypatch) -> list[str]:
    """The names of the cache operations called from now on, in order."""
    calls = []
    backend = type(caches["default"])
    for name in ("get", "get_many", "set", "add", "set_many", "delete", "delete_many", "incr", "touch"):
        monkeypatch.setattr(backend, name, _recorded(getattr(backend, name), name, calls))
    return calls


def _recorded(operation, name: str, calls: list[str]):
    def spy(self, *args, **kwargs):
        calls.append(name)
        return operation(self, *args, **kwargs)

    return spy


def test_a_preflight_from_an_unknown_origin_costs_one_cache_read_and_no_query(
    spa, monkeypatch, django_assert_num_queries
):
    assert cors_headers(preflight("/o/token/", STRANGER_ORIGIN)) == {}  # the index of origins is built
    calls = cache_calls(monkeypatch)
    for number in range(3):  # an attacker varying Origin
        with django_assert_num_queries(0):
            answer = preflight("/o/token/", f"https://made-up-{number}.example")
        assert answer.status_code == 200 and cors_headers(answer) == {}
    assert calls == ["get"] * 3  # and not one write


def test_a_preflight_from_an_allowed_origin_costs_two_cache_reads_and_no_query(
    spa, monkeypatch, django_assert_num_queries
):
    assert_readable_by(preflight("/o/token/", APP_ORIGIN), APP_ORIGIN)  # the index and the client are cached
    calls = cache_calls(monkeypatch)
    with django_assert_num_queries(0):
        assert_readable_by(preflight("/o/token/", APP_ORIGIN), APP_ORIGIN)
    assert calls == ["get", "get_many"]


def test_a_preflight_to_introspection_is_never_granted(spa):
    assert cors_headers(preflight("/o/introspect/", APP_ORIGIN)) == {}


def test_an_origin_added_or_removed_counts_at_once(spa):
    new_origin = "https://beta.acme.example"
    assert cors_headers(preflight("/o/token/", new_origin)) == {}  # its absence is cached
    client_update(actor=SYSTEM, client=spa.acme.app, changes={"allowed_origins": [APP_ORIGIN, new_origin]})
    assert_readable_by(preflight("/o/token/", new_origin), new_origin)
    client_update(actor=SYSTEM, client=spa.acme.app, changes={"allowed_origins": [APP_ORIGIN]})
    assert cors_headers(preflight("/o/token/", new_origin)) == {}


def test_a_new_clients_origin_counts_at_once(spa):
    new_origin = "https://admin.acme.example"
    assert cors_headers(preflight("/o/token/", new_origin)) == {}  # the index without it is cached
    client_create(
        actor=SYSTEM,
        tenant=spa.acme.tenant,
        name="Admin app",
        client_type=Client.CLIENT_PUBLIC,
        grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris=["https://admin.acme.example/callback"],
        allowed_origins=[new_origin],
    )
    assert_readable_by(preflight("/o/token/", new_origin), new_origin)


def test_a_disabled_clients_origins_stop_counting(client, spa):
    code = code_of(client, spa.acme.app, spa.alice)
    assert_readable_by(preflight("/o/token/", APP_ORIGIN), APP_ORIGIN)  # cached while enabled
    client_disable(actor=SYSTEM, client=spa.acme.app)
    assert cors_headers(preflight("/o/token/", APP_ORIGIN)) == {}
    refused = exchange(client, spa.acme.app, code)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert cors_headers(refused) == {}


def test_a_suspended_tenants_origins_stop_counting(client, spa):
    assert_readable_by(preflight("/o/token/", SHOP_ORIGIN), SHOP_ORIGIN)
    tenant_suspend(actor=SYSTEM, tenant=spa.bolt.tenant)
    assert cors_headers(preflight("/o/token/", SHOP_ORIGIN)) == {}
    assert cors_headers(exchange(client, spa.bolt.app, "made-up", origin=SHOP_ORIGIN)) == {}


# --- Userinfo, revocation, introspection -------------------------------------------------


def test_userinfo_preflight_then_get_with_a_bearer_token(spa):
    token = signed_in_token(spa)
    granted = preflight("/o/userinfo/", APP_ORIGIN, method="GET")
    assert_readable_by(granted, APP_ORIGIN)
    assert granted["Access-Control-Allow-Methods"] == "GET, POST"
    assert "Authorization" in granted["Access-Control-Allow-Headers"]

    answer = DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=APP_ORIGIN)
    assert answer.status_code == 200 and answer.json()["sub"] == str(spa.alice.uuid)
    assert_readable_by(answer, APP_ORIGIN)
    assert answer["Access-Control-Expose-Headers"] == "WWW-Authenticate"

    elsewhere = DjangoTestClient().get(
        "/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=STRANGER_ORIGIN
    )
    assert elsewhere.status_code == 200 and cors_headers(elsewhere) == {}
    cross_tenant = DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=SHOP_ORIGIN)
    assert cors_headers(cross_tenant) == {}


def test_userinfo_refusing_an_expired_token_is_readable_so_the_app_can_refresh(spa):
    token = signed_in_token(spa)
    get_access_token_model().objects.filter(token_checksum=access_token_checksum(token)).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    answer = DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=APP_ORIGIN)
    assert answer.status_code == 401 and "invalid_token" in answer["WWW-Authenticate"]
    assert_readable_by(answer, APP_ORIGIN)
    assert answer["Access-Control-Expose-Headers"] == "WWW-Authenticate"
    unknown = DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer made-up", HTTP_ORIGIN=APP_ORIGIN)
    assert unknown.status_code == 401 and cors_headers(unknown) == {}  # no client to ask


def test_userinfo_with_a_jwt_access_token_is_readable_by_its_clients_origin(spa):
    tenant_config_update(actor=SYSTEM, tenant=spa.acme.tenant, config={"access_token_format": "jwt"}, partial=True)
    token = signed_in_token(spa)
    assert token.count(".") == 2  # a JWT, stored by its checksum like an opaque token
    answer = DjangoTestClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=APP_ORIGIN)
    assert answer.status_code == 200 and answer.json()["sub"] == str(spa.alice.uuid)
    assert_readable_by(answer, APP_ORIGIN)
    elsewhere = DjangoTestClient().get(
        "/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN=STRANGER_ORIGIN
    )
    assert elsewhere.status_code == 200 and cors_headers(elsewhere) == {}


def test_userinfo_from_an_origin_costs_no_query_once_the_token_is_known(spa):
    token = signed_in_token(spa)
    caller = DjangoTestClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_readable_by(caller.get("/o/userinfo/", HTTP_ORIGIN=APP_ORIGIN), APP_ORIGIN)
    counts = []
    for headers in ({}, {"HTTP_ORIGIN": APP_ORIGIN}):
        with CaptureQueriesContext(connection) as queries:
            assert caller.get("/o/userinfo/", **headers).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_revocation_from_an_allowed_origin_is_readable(spa):
    token = signed_in_token(spa)
    body = {"token": token, "client_id": spa.acme.app.client_id}
    elsewhere = DjangoTestClient().post("/o/revoke_token/", body, HTTP_ORIGIN=STRANGER_ORIGIN)
    assert elsewhere.status_code == 200 and cors_headers(elsewhere) == {}
    answer = DjangoTestClient().post("/o/revoke_token/", body, HTTP_ORIGIN=APP_ORIGIN)
    assert answer.status_code == 200
    assert_readable_by(answer, APP_ORIGIN)


def test_introspection_is_never_readable_by_a_browser(spa):
    client_update(actor=SYSTEM, client=spa.acme.app, changes={"allowed_origins": [APP_ORIGIN]})
    credentials = client_credentials(spa.acme)
    answer = DjangoTestClient().post(
        "/o/introspect/", {"token": signed_in_token(spa), **credentials}, HTTP_ORIGIN=APP_ORIGIN
    )
    assert answer.status_code == 200 and answer.json()["active"] is True
    assert cors_headers(answer) == {}
    by_app = DjangoTestClient().post(
        "/o/introspect/", {"token": "t", "client_id": spa.acme.app.client_id}, HTTP_ORIGIN=APP_ORIGIN
    )
    assert cors_headers(by_app) == {}
