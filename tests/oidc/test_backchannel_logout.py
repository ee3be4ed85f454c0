"""OpenID Connect Back-Channel Logout 1.0: relying parties hear when a hub session ends.

The relying parties' back-channel endpoints are real HTTP servers on 127.0.0.1 that
record what the hub POSTs; the hub runs as a live server and is signed in to through
the real authorization-code flow, in one browser session for several clients.
"""

import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from accounts.oidc.backchannel import client_sessions_prune
from accounts.oidc.claims import subject_for
from tenants.models import Client, ClientSession
from tests.api.conftest import assert_problem
from tests.test_admin import resubmit, url

from .conftest import Provider, query_of, relying_party

pytestmark = pytest.mark.django_db(transaction=True)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


# --- A relying party's back-channel endpoint ---------------------------------------------


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (the last one repeats) and keeps its body."""

    statuses: list[int]
    redirect_to: str = ""
    received: list[dict[str, list[str]]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def logout_tokens(self) -> list[str]:
        return [body["logout_token"][0] for body in self.received]


def _handler_for(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            receiver.content_types.append(self.headers["Content-Type"])
            receiver.received.append(parse_qs(self.rfile.read(length).decode()))
            status = receiver.statuses[min(len(receiver.received), len(receiver.statuses)) - 1]
            self.send_response(status)
            if receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    """Start a back-channel endpoint: ``receiver(200)``, ``receiver(500, 200)``, ..."""
    servers = []

    def start(*statuses: int, redirect_to: str = "") -> Receiver:
        found = Receiver(statuses=list(statuses or [200]), redirect_to=redirect_to)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(found))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        found.url = f"http://127.0.0.1:{server.server_port}/backchannel-logout"
        return found

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- Signing in to several clients in one hub session ---------------------------------------


@dataclass
class SignedIn:
    client: Client
    id_token: str
    claims: dict


def sign_in_through(session: requests.Session, provider: Provider, client: Client) -> SignedIn:
    """Authorization code + PKCE for ``client`` in this browser session, as a relying party would."""
    rp = relying_party(client)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    address, state = rp.create_authorization_url(
        provider.endpoint("authorization_endpoint"), code_verifier=verifier, nonce=nonce
    )
    response = session.get(address, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    assert query_of(response.headers["Location"])["state"] == state
    token = rp.fetch_token(
        provider.endpoint("token_endpoint"), authorization_response=response.headers["Location"], code_verifier=verifier
    )
    rp.close()
    return SignedIn(client, token["id_token"], provider.decode(token["id_token"]).claims)


def log_out_at_the_hub(session: requests.Session, provider: Provider, id_token: str) -> None:
    """RP-initiated logout with id_token_hint, confirmed by the user."""
    params = {"id_token_hint": id_token}
    confirm = session.get(provider.endpoint("end_session_endpoint"), params=params, timeout=10)
    assert confirm.status_code == 200 and 'id="authorizationForm"' in confirm.text
    done = session.post(
        provider.endpoint("end_session_endpoint"),
        data={**params, "allow": "on", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 302


def app_of(make_client, tenant, **fields) -> Client:
    client, _ = make_client(tenant, public=True, name=f"{tenant.slug} app {secrets.token_hex(2)}", **fields)
    return client


@pytest.fixture
def cove(make_tenant):
    """A third tenant, which asked for pairwise subjects."""
    return make_tenant("cove", config={"allowed_scopes": ["openid", "profile", "email"], "subject_type": "pairwise"})


def verified_logout_token(token: str, keys: KeySet, *, issuer: str, audience: str) -> dict:
    """What a relying party checks (Back-Channel Logout 1.0, 2.6), with joserfc against the JWKS."""
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "logout+jwt"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


# --- What the relying parties see ----------------------------------------------------------


def test_logout_sends_each_listening_client_a_logout_token_for_the_session(
    provider, world, cove, make_client, browser, receiver
):
    acme_rp, cove_rp = receiver(200), receiver(204)
    acme_app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=acme_rp.url)
    cove_app = app_of(make_client, cove, backchannel_logout_uri=cove_rp.url, backchannel_logout_session_required=True)
    bolt_app = app_of(make_client, world.bolt.tenant)  # registered no back-channel URI
    session = browser(world.alice)
    signed_in = [sign_in_through(session, provider, app) for app in (acme_app, cove_app, bolt_app)]

    log_out_at_the_hub(session, provider, signed_in[0].id_token)

    keys = provider.keys()
    for rp, sign_in in zip((acme_rp, cove_rp), signed_in, strict=False):
        [token] = rp.logout_tokens
        assert rp.content_types == ["application/x-www-form-urlencoded"]
        claims = verified_logout_token(token, keys, issuer=provider.issuer, audience=sign_in.client.client_id)
        assert claims["sub"] == sign_in.claims["sub"] == subject_for(user=world.alice, tenant=sign_in.client.tenant)
        assert claims["sid"] == sign_in.claims["sid"]
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert "nonce" not in claims and "nonce" in sign_in.claims
        assert claims["exp"] - claims["iat"] == 120
    assert signed_in[1].claims["sub"] != str(world.alice.uuid)  # cove's is pairwise
    # One hub session, but each tenant its own sid, so tenants cannot join users on it.
    assert len({sign_in.claims["sid"] for sign_in in signed_in}) == 3
    assert not ClientSession.objects.exists()


def test_a_client_without_a_back_channel_uri_is_not_recorded_or_sent_anything(
    provider, world, make_client, browser, receiver
):
    listening = receiver(200)
    with_uri = app_of(make_client, world.acme.tenant, backchannel_logout_uri=listening.url)
    without = app_of(make_client, world.bolt.tenant)
    session = browser(world.alice)
    sign_in_through(session, provider, without)
    hint = sign_in_through(session, provider, with_uri).id_token
    assert list(ClientSession.objects.values_list("client_id", flat=True)) == [with_uri.pk]

    log_out_at_the_hub(session, provider, hint)

    audiences = [
        jwt.decode(token, provider.keys(), algorithms=["RS256"]).claims["aud"] for token in listening.logout_tokens
    ]
    assert audiences == [with_uri.client_id]


def test_a_receiver_that_fails_is_tried_again_with_a_fresh_token(provider, world, make_client, browser, receiver):
    flaky = receiver(500, 200)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=flaky.url)
    session = browser(world.alice)
    signed_in = sign_in_through(session, provider, app)

    log_out_at_the_hub(session, provider, signed_in.id_token)

    first, second = flaky.logout_tokens
    keys = provider.keys()
    claims = [
        verified_logout_token(token, keys, issuer=provider.issuer, audience=app.client_id)
        for token in flaky.logout_tokens
    ]
    assert claims[0]["jti"] != claims[1]["jti"] and claims[0]["sid"] == claims[1]["sid"] == signed_in.claims["sid"]
    assert first != second


def test_a_receiver_that_never_answers_well_is_given_up_on_and_logout_still_works(
    provider, world, make_client, browser, receiver
):
    down = receiver(503)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=down.url)
    session = browser(world.alice)
    log_out_at_the_hub(session, provider, sign_in_through(session, provider, app).id_token)

    assert len(down.logout_tokens) == 5  # the first attempt and four retries


def test_a_redirect_is_not_followed_nor_retried(provider, world, make_client, browser, receiver):
    elsewhere = receiver(200)
    redirecting = receiver(307, redirect_to=elsewhere.url)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=redirecting.url)
    session = browser(world.alice)
    log_out_at_the_hub(session, provider, sign_in_through(session, provider, app).id_token)

    assert len(redirecting.logout_tokens) == 1
    assert elsewhere.received == []


def test_signing_out_on_the_hubs_own_page_tells_the_clients_too(provider, world, make_client, browser, receiver):
    rp = receiver(200)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=rp.url)
    session = browser(world.alice)
    signed_in = sign_in_through(session, provider, app)
    session.get(f"{provider.issuer}/accounts/logout/", timeout=10)  # sets the CSRF cookie

    response = session.post(
        f"{provider.issuer}/accounts/logout/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 302
    [token] = rp.logout_tokens
    claims = verified_logout_token(token, provider.keys(), issuer=provider.issuer, audience=app.client_id)
    assert claims["sid"] == signed_in.claims["sid"]


def test_another_session_of_the_same_user_is_not_logged_out(provider, world, make_client, browser, receiver):
    rp = receiver(200)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=rp.url)
    laptop, phone = browser(world.alice), browser(world.alice)
    on_laptop = sign_in_through(laptop, provider, app)
    on_phone = sign_in_through(phone, provider, app)
    assert on_laptop.claims["sid"] != on_phone.claims["sid"]

    log_out_at_the_hub(laptop, provider, on_laptop.id_token)

    [token] = rp.logout_tokens
    assert jwt.decode(token, provider.keys(), algorithms=["RS256"]).claims["sid"] == on_laptop.claims["sid"]
    assert list(ClientSession.objects.values_list("client_id", flat=True)) == [app.pk]


def test_a_disabled_client_is_not_told(provider, world, make_client, browser, receiver):
    rp = receiver(200)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=rp.url)
    session = browser(world.alice)
    hint = sign_in_through(session, provider, app).id_token
    Client.objects.filter(pk=app.pk).update(disabled_at=timezone.now())

    log_out_at_the_hub(session, provider, hint)

    assert rp.received == []


def test_discovery_advertises_back_channel_logout_with_sessions(provider):
    assert provider.metadata["backchannel_logout_supported"] is True
    assert provider.metadata["backchannel_logout_session_supported"] is True
    assert "sid" in provider.metadata["claims_supported"]


def test_sessions_that_expired_without_a_sign_out_are_pruned(world, make_client, settings):
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri="https://rp.acme.example/bcl")
    old = ClientSession.objects.create(hub_session_id="old", client=app, user=world.alice)
    ClientSession.objects.filter(pk=old.pk).update(
        signed_in_at=timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)
    )
    ClientSession.objects.create(hub_session_id="live", client=app, user=world.alice)

    assert client_sessions_prune() == 1
    assert list(ClientSession.objects.values_list("hub_session_id", flat=True)) == ["live"]


# --- Registering a back-channel URI ----------------------------------------------------------


@pytest.fixture
def acme_admin(world) -> APIClient:
    """Acme's admin client, with a token as the token endpoint would issue it."""
    raw = secrets.token_urlsafe(30)
    expires = timezone.now() + timedelta(hours=1)
    AccessToken.objects.create(application=world.acme.backend, token=raw, expires=expires, scope="tenant:admin")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def test_a_tenant_registers_its_back_channel_uri_through_the_api(world, acme_admin):
    address = f"/api/v1/clients/{world.acme.app.client_id}"
    changes = {"backchannel_logout_uri": "https://app.acme.example/bcl", "backchannel_logout_session_required": True}

    response = acme_admin.patch(address, changes, format="json")

    assert response.status_code == 200, response.content
    assert {name: response.json()[name] for name in changes} == changes
    world.acme.app.refresh_from_db()
    assert world.acme.app.backchannel_logout_uri == "https://app.acme.example/bcl"
    cleared = acme_admin.patch(address, {"backchannel_logout_uri": None}, format="json").json()
    assert cleared["backchannel_logout_uri"] is None
    assert Client.objects.get(pk=world.acme.app.pk).backchannel_logout_uri == ""


def test_a_new_client_can_name_its_back_channel_uri(world, acme_admin):
    payload = {
        "name": "Shop",
        "client_type": "public",
        "grant_type": "authorization-code",
        "redirect_uris": ["https://shop.acme.example/cb"],
        "allowed_scopes": ["openid"],
        "backchannel_logout_uri": "https://shop.acme.example/bcl",
    }

    response = acme_admin.post("/api/v1/clients", payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["backchannel_logout_uri"] == "https://shop.acme.example/bcl"
    assert body["backchannel_logout_session_required"] is False


@pytest.mark.parametrize(
    "address",
    [
        "http://app.acme.example/bcl",
        "https://app.acme.example/bcl#fragment",
        "https://user:password@app.acme.example/bcl",
        "https://10.0.0.7/bcl",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.10/bcl",
        "https://[fd00::1]/bcl",
        "not a url",
    ],
)
def test_a_back_channel_uri_must_be_a_public_https_address(world, acme_admin, address):
    response = acme_admin.patch(
        f"/api/v1/clients/{world.acme.app.client_id}", {"backchannel_logout_uri": address}, format="json"
    )

    assert_problem(response, 400, path="/backchannel_logout_uri")
    assert Client.objects.get(pk=world.acme.app.pk).backchannel_logout_uri == ""


@pytest.mark.parametrize("address", ["http://127.0.0.1:8000/bcl", "https://localhost/bcl", "https://[::1]/bcl"])
def test_a_loopback_receiver_is_for_development_only(world, acme_admin, settings, address):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["https"]}  # production's

    response = acme_admin.patch(
        f"/api/v1/clients/{world.acme.app.client_id}", {"backchannel_logout_uri": address}, format="json"
    )

    assert_problem(response, 400, path="/backchannel_logout_uri")


def test_another_tenants_client_cannot_be_given_a_back_channel_uri(world, acme_admin):
    response = acme_admin.patch(
        f"/api/v1/clients/{world.bolt.app.client_id}",
        {"backchannel_logout_uri": "https://evil.example/bcl"},
        format="json",
    )

    assert_problem(response, 404)
    assert Client.objects.get(pk=world.bolt.app.pk).backchannel_logout_uri == ""


def test_staff_set_the_back_channel_uri_in_the_admin(client, world):
    client.force_login(world.staff)
    app = world.acme.app
    page = client.get(url(Client, "change", app.pk))
    assert 'name="backchannel_logout_uri"' in page.content.decode()

    client.post(
        url(Client, "change", app.pk),
        resubmit(page, backchannel_logout_uri="https://app.acme.example/bcl", backchannel_logout_session_required="on"),
    )

    app.refresh_from_db()
    assert (app.backchannel_logout_uri, app.backchannel_logout_session_required) == (
        "https://app.acme.example/bcl",
        True,
    )
    refused = client.post(
        url(Client, "change", app.pk), resubmit(page, backchannel_logout_uri="http://app.acme.example/bcl")
    )
    assert refused.status_code == 200 and "must be an https URL" in refused.content.decode()


def test_a_name_that_resolves_into_the_hubs_network_is_not_posted_to(
    provider, world, make_client, browser, receiver, monkeypatch
):
    """Registration refuses internal addresses written as such; a DNS name is checked where it
    resolves, right before the worker connects (no request to the hub's own network)."""
    rp = receiver(200)
    app = app_of(make_client, world.acme.tenant, backchannel_logout_uri=rp.url)
    # A name that passed registration, and that resolves to the hub's own machine.
    internal = f"http://internal-receiver.test:{urlsplit(rp.url).port}/logout"
    Client.objects.filter(pk=app.pk).update(backchannel_logout_uri=internal)
    resolve = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *args, **kwargs: resolve(
            "127.0.0.1" if host == "internal-receiver.test" else host, *args, **kwargs
        ),
    )
    session = browser(world.alice)
    log_out_at_the_hub(session, provider, sign_in_through(session, provider, app).id_token)

    assert rp.received == []
