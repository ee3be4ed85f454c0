"""Social sign-in in a real browser, from a tenant app back to that app with an ID token.

The OpenID Connect upstream is a real provider started locally: this same live server,
serving Bolt's confidential client, reached as http://127.0.0.1:port while the hub the
app talks to is http://localhost:port. The two host names keep two cookie jars, so the
browser holds one session at the upstream and another at the hub, as it would with two
servers. Google, Facebook and Apple are answered at the HTTP boundary: the browser's visit
to their authorization pages by Playwright routing, the hub's server-side calls by
``responses`` (tests/browser/recorded/providers.py).
"""

import re

import pytest
import responses
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import User
from tenants.models import Client
from tenants.services import client_create, tenant_config_update

from ..conftest import SYSTEM
from .conftest import sign_in_on_the_page
from .recorded.providers import Apple, Facebook, Google, Person, ProviderApp, apple_developer_key
from .test_sign_in import arrive_at

pytestmark = pytest.mark.django_db(transaction=True)


def enable(tenant, *entries: dict) -> None:
    methods = ["password", *dict.fromkeys(entry["provider"] for entry in entries)]
    tenant_config_update(
        actor=SYSTEM, tenant=tenant, partial=True, config={"login_methods": methods, "social_providers": list(entries)}
    )


def operator_registers(provider: str, app: ProviderApp, *, tenants: list[str], name: str, **fields) -> SocialApp:
    """What an operator enters in the admin: the provider app, its secret, the tenants it serves."""
    return SocialApp.objects.create(
        provider=provider,
        name=name,
        client_id=app.client_id,
        secret=app.secret,
        key=app.key,
        settings={"tenants": tenants, **app.settings},
        **fields,
    )


@pytest.fixture
def erin(make_user):
    user = make_user(
        "erin@example.org", password="a long and unusual passphrase", given_name="Erin", email_verified=True
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def recorded(live_server):
    """The providers' recorded answers; requests to the hub itself go through."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(live_server.url)
        yield rsps


def provider_pages(page: Page, origin: str, provider) -> None:
    """The browser's visits to ``origin`` get ``provider``'s consent page."""
    page.context.route(
        re.compile("^" + re.escape(origin) + "/"),
        lambda route: route.fulfill(
            status=200, content_type="text/html", body=provider.consent_page(route.request.url)
        ),
    )


def test_sign_in_through_an_openid_connect_provider_started_locally(page, world, tenant_app, live_server, erin):
    upstream_origin = live_server.url.replace("localhost", "127.0.0.1")
    callback = f"{live_server.url}/accounts/oidc/bolt-id/login/callback/"
    upstream_client, secret = bolt_id_client(world, callback)
    # Erin's account at the upstream has a verified address, and the operator trusts this
    # upstream's verified addresses: so the same address signs her in to her hub account.
    settings = {"server_url": upstream_origin, "email_authentication": True}
    upstream_app = ProviderApp(client_id=upstream_client.client_id, secret=secret, settings=settings)
    operator_registers("openid_connect", upstream_app, tenants=["acme"], name="Bolt ID", provider_id="bolt-id")
    entry = {
        "provider": "oidc",
        "client_id": upstream_client.client_id,
        "name": "Bolt ID",
        "issuer": "https://id.bolt.example",
    }
    enable(world.acme.tenant, entry)
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    acme.start_sign_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Acme app")
    page.get_by_role("button", name="Continue with Bolt ID").click()

    # The upstream provider's own login page, for its own client.
    page.wait_for_url(re.compile("^" + re.escape(upstream_origin) + "/accounts/login/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to {upstream_client.name}")
    sign_in_on_the_page(page, erin.email)

    answer = arrive_at(page, acme)
    assert answer["state"] == acme.state
    _token, id_token = acme.finish(page.url)
    assert id_token["sub"] == str(erin.uuid)
    assert "pwd" not in id_token.get("amr", [])  # the hub saw no password; the upstream did
    linked = SocialAccount.objects.get(provider="bolt-id")
    assert linked.user == erin and linked.uid == str(erin.uuid)  # Bolt's client sees public subjects
    assert linked.extra_data["id_token"]["iss"] == upstream_origin


def bolt_id_client(world, callback: str) -> tuple[Client, str]:
    """Bolt's confidential client at the upstream, whose redirect URI is the hub's callback."""
    return client_create(
        actor=SYSTEM,
        tenant=world.bolt.tenant,
        name="Bolt ID",
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris=[callback],
        allowed_scopes=["openid", "profile", "email"],
        first_party=True,
    )


def test_sign_in_with_google(page, world, tenant_app, recorded):
    google_app = ProviderApp(client_id="301234-acme.apps.googleusercontent.com", secret="GOCSPX-not-a-real-secret")
    operator_registers("google", google_app, tenants=["acme"], name="Google for Acme")
    enable(world.acme.tenant, {"provider": "google", "client_id": google_app.client_id})
    google = Google(google_app, Person(sub="110169484474386276334", email="gina@gmail.com", given_name="Gina"))
    google.record(recorded)
    provider_pages(page, "https://accounts.google.com", google)
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    acme.start_sign_in(page)
    page.get_by_role("button", name="Continue with Google").click()
    page.get_by_role("link", name="Continue").click()  # at Google

    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    gina = User.objects.get(email="gina@gmail.com")
    assert id_token["sub"] == str(gina.uuid)
    assert gina.given_name == "Gina" and gina.email_verified
    assert SocialAccount.objects.get(provider="google", uid="110169484474386276334").user == gina


def test_sign_in_with_facebook_asks_to_verify_the_address_first(page, world, tenant_app, recorded):
    facebook_app = ProviderApp(client_id="1029384756", secret="f00dfacecafe0000")
    operator_registers("facebook", facebook_app, tenants=["acme"], name="Facebook for Acme")
    enable(world.acme.tenant, {"provider": "facebook", "client_id": facebook_app.client_id})
    facebook = Facebook(facebook_app, Person(sub="10158891234567890", email="fred@example.net", given_name="Fred"))
    facebook.record(recorded)
    provider_pages(page, "https://www.facebook.com", facebook)
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    acme.start_sign_in(page)
    page.get_by_role("button", name="Continue with Facebook").click()
    page.get_by_role("link", name="Continue").click()  # at Facebook

    # Facebook does not vouch for addresses: the hub checks this one before letting Fred in.
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify Your Email Address")
    (message,) = mail.outbox
    assert message.to == ["fred@example.net"]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+", message.body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_text("You have confirmed fred@example.net.")).to_be_visible()

    # Address confirmed, Fred goes back to Acme's app: now Facebook signs him in. (The
    # confirmation page's sign-in form has lost the app's authorization request, so he
    # starts from the app again.)
    acme.start_sign_in(page)
    page.get_by_role("button", name="Continue with Facebook").click()
    page.get_by_role("link", name="Continue").click()  # at Facebook

    arrive_at(page, acme)
    # Browsers carry Facebook's "#_=_" through the redirects; an app drops it before reading the code.
    assert page.url.endswith("#_=_")
    _token, id_token = acme.finish(page.url.removesuffix("#_=_"))
    fred = User.objects.get(email="fred@example.net")
    assert id_token["sub"] == str(fred.uuid)
    assert SocialAccount.objects.get(provider="facebook", uid="10158891234567890").user == fred


def test_sign_in_with_apple(page, world, tenant_app, recorded):
    pem, developer_key = apple_developer_key()
    apple_app = ProviderApp(
        client_id="com.acme.signin", secret="ABC123DEFG", key="TEAM123456", settings={"certificate_key": pem}
    )
    operator_registers("apple", apple_app, tenants=["acme"], name="Apple for Acme")
    enable(world.acme.tenant, {"provider": "apple", "client_id": apple_app.client_id})
    person = Person(sub="001234.8f2c9b1e0d4a4b7e9c3f5a6b7c8d9e0f.1234", email="x7k2bq9d@privaterelay.appleid.com")
    apple = Apple(apple_app, person, developer_key)
    apple.record(recorded)
    provider_pages(page, "https://appleid.apple.com", apple)
    acme = tenant_app(world.acme.tenant, "app.acme.example")

    acme.start_sign_in(page)
    page.get_by_role("button", name="Continue with Apple").click()
    page.get_by_role("button", name="Continue", exact=True).click()  # at Apple: posts back to the hub

    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    user = User.objects.get(email=person.email)
    assert id_token["sub"] == str(user.uuid)
    assert (user.given_name, user.family_name) == ("Pat", "Provider")  # from Apple's first-time form post
    assert SocialAccount.objects.get(provider="apple", uid=person.sub).user == user
