""" "Continue as guest" (accounts/signin/guest.py): who may, what it leaves behind, and the
merge when the same device signs in to an account."""

import hashlib

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user
from django.test import Client as DjangoTestClient
from django.test import RequestFactory

from accounts.models import Membership, User
from accounts.signin.context import signin_context_for_client
from accounts.signin.guest import guest_requirement_response
from events.models import Event
from tenants.services import tenant_config_update

from .conftest import SYSTEM

PASSWORD = "a long and unusual passphrase"


def authorize_path(client, **extra) -> str:
    query = "&".join(f"{name}={value}" for name, value in extra.items())
    return f"/o/authorize/?client_id={client.client_id}&response_type=code&scope=openid&state=s1&{query}".rstrip("&")


def allow_guests(tenant) -> None:
    tenant_config_update(actor=SYSTEM, tenant=tenant, config={"login_methods": ["password", "guest"]}, partial=True)


@pytest.fixture
def acme_with_guests(world):
    allow_guests(world.acme.tenant)
    return world


def continue_as_guest(browser, app, **kwargs):
    return browser.post("/accounts/guest/", {"next": authorize_path(app)}, **kwargs)


def test_the_login_page_offers_guests_only_where_the_tenant_does(acme_with_guests, client):
    world = acme_with_guests
    acme = client.get("/accounts/login/", {"next": authorize_path(world.acme.app)}).content.decode()
    assert "Continue as guest" in acme
    bolt = client.get("/accounts/login/", {"next": authorize_path(world.bolt.app)}).content.decode()
    assert "Continue as guest" not in bolt


def test_a_guest_is_made_signed_in_and_sent_back(acme_with_guests, client):
    world = acme_with_guests
    response = continue_as_guest(client, world.acme.app)
    assert response.status_code == 302 and response["Location"] == authorize_path(world.acme.app)

    guest = get_user(client)
    assert guest.is_guest and guest.email is None and not guest.has_usable_password()
    cookie = response.cookies["hm_guest"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert cookie["max-age"] == 365 * 24 * 3600
    assert guest.guest_device_hash == hashlib.sha256(cookie.value.encode()).hexdigest()  # only the hash is kept
    assert Membership.all_tenants.filter(tenant=world.acme.tenant, user=guest).exists()
    assert Event.all_tenants.get(type="user.created", subject=str(guest.uuid)).tenant == world.acme.tenant
    assert client.session["account_authentication_methods"][-1]["method"] == "guest"


def test_the_cookie_is_secure_over_https(acme_with_guests, client):
    response = continue_as_guest(client, acme_with_guests.acme.app, secure=True)
    assert response.cookies["hm_guest"]["secure"]


def test_the_same_device_gets_the_same_guest_back(acme_with_guests, client):
    continue_as_guest(client, acme_with_guests.acme.app)
    first = get_user(client)
    client.post("/accounts/logout/")
    response = continue_as_guest(client, acme_with_guests.acme.app)
    assert get_user(client) == first
    assert "hm_guest" not in response.cookies  # the cookie it has stays
    assert User.objects.filter(kind=User.Kind.GUEST).count() == 1


@pytest.mark.parametrize("config", [{}, {"mfa": {"required": True}}], ids=["not_offered", "mfa_required"])
def test_a_tenant_without_guests_refuses_and_nothing_is_made(world, client, config):
    if config:
        allow_guests(world.acme.tenant)
        tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    response = continue_as_guest(client, world.acme.app)
    assert response.status_code == 403
    assert "Guest access is not available" in response.content.decode()
    assert not User.objects.filter(kind=User.Kind.GUEST).exists()
    assert "hm_guest" not in response.cookies and not get_user(client).is_authenticated


def test_no_tenant_no_guest(world, client):
    response = client.post("/accounts/guest/", {"next": "/"})
    assert response.status_code == 403
    assert not User.objects.filter(kind=User.Kind.GUEST).exists()


def test_guest_creation_is_limited_per_address(acme_with_guests, settings):
    settings.GUEST_SIGNINS_PER_IP_PER_HOUR = 2
    answers = [continue_as_guest(DjangoTestClient(), acme_with_guests.acme.app).status_code for _ in range(3)]
    assert answers == [302, 302, 429]
    assert User.objects.filter(kind=User.Kind.GUEST).count() == 2
    # Another address is not held back by this one.
    other = continue_as_guest(DjangoTestClient(REMOTE_ADDR="198.51.100.9"), acme_with_guests.acme.app)
    assert other.status_code == 302


def test_behind_a_balancer_guest_creation_is_limited_per_client(acme_with_guests, settings):
    """TRUSTED_PROXY_COUNT: every caller arrives from the balancer; X-Forwarded-For says who."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.GUEST_SIGNINS_PER_IP_PER_HOUR = 2
    app = acme_with_guests.acme.app

    def three_tries(client: str) -> list[int]:
        behind = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": client}
        return [continue_as_guest(DjangoTestClient(**behind), app).status_code for _ in range(3)]

    assert three_tries("203.0.113.7") == [302, 302, 429]
    assert three_tries("198.51.100.9") == [302, 302, 429]
    # IPv6 by its /64: another address of the same network is the same client.
    assert three_tries("2001:db8:1:2::1") == [302, 302, 429]
    assert three_tries("2001:db8:1:2::2") == [429, 429, 429]
    assert User.objects.filter(kind=User.Kind.GUEST).count() == 6


@pytest.mark.django_db(transaction=True)  # allauth's sign-in runs in its own transactions
def test_signing_in_on_a_guests_device_merges_the_guest(acme_with_guests, make_user, client):
    dora = make_user("dora@example.org", password=PASSWORD)
    EmailAddress.objects.create(user=dora, email=dora.email, verified=True, primary=True)
    continue_as_guest(client, acme_with_guests.acme.app)
    guest = get_user(client)
    client.post("/accounts/logout/")

    response = client.post("/accounts/login/", {"login": dora.email, "password": PASSWORD})
    assert response.status_code == 302 and get_user(client) == dora
    guest.refresh_from_db()
    assert guest.merged_into == dora and not guest.is_active
    assert Membership.all_tenants.filter(tenant=acme_with_guests.acme.tenant, user=dora).exists()
    # The device's cookie names nobody now: "Continue as guest" would start a new guest.
    assert not User.objects.filter(guest_device_hash__isnull=False).exists()


@pytest.mark.parametrize(
    ("prompt", "page"), [("login", "/accounts/login/"), ("create", "/accounts/signup/"), (None, None)]
)
def test_a_guest_session_gives_way_when_the_app_asks_for_an_account(acme_with_guests, client, prompt, page):
    world = acme_with_guests
    continue_as_guest(client, world.acme.app)
    path = authorize_path(world.acme.app, **({"prompt": prompt} if prompt else {}))
    request = RequestFactory().get(path)
    request.session, request.user = client.session, get_user(client)
    response = guest_requirement_response(request, signin_context_for_client(world.acme.app))
    if page is None:
        assert response is None
        return
    assert response["Location"].startswith(page)
    assert "prompt" not in response["Location"]
    assert not request.user.is_authenticated


def test_a_guest_session_gives_way_at_a_tenant_without_guests(acme_with_guests, client):
    world = acme_with_guests
    continue_as_guest(client, world.acme.app)
    request = RequestFactory().get(authorize_path(world.bolt.app))
    request.session, request.user = client.session, get_user(client)
    response = guest_requirement_response(request, signin_context_for_client(world.bolt.app))
    assert response["Location"].startswith("/accounts/login/?next=")
