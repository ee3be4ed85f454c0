"""Social sign-in per tenant, through the hub's pages, with the providers' answers recorded.

Acme enables Google and Facebook; Bolt enables neither. The operator's Google app is open
to both tenants, so what Bolt sees is decided by Bolt's own config. Linking rule
(docs/decisions/0017): a provider's email signs in to an existing account only through an
app the operator marked trusted for it, with the address verified by the provider and by
the hub.
"""

from urllib.parse import urlencode, urlsplit

import pytest
import responses
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.core import mail

from accounts.models import User
from tenants.services import tenant_config_update
from tests.browser.recorded.providers import Facebook, Google, Person, ProviderApp

from .conftest import SYSTEM

pytestmark = pytest.mark.django_db

GOOGLE_APP = ProviderApp(client_id="301234-acme.apps.googleusercontent.com", secret="GOCSPX-not-a-real-secret")
FACEBOOK_APP = ProviderApp(client_id="1029384756", secret="f00dfacecafe0000")
PASSWORD = "a long and unusual passphrase"


def social_app(app: ProviderApp, provider: str, *, tenants: list[str], **settings) -> SocialApp:
    return SocialApp.objects.create(
        provider=provider,
        name=provider.title(),
        client_id=app.client_id,
        secret=app.secret,
        settings={"tenants": tenants, **settings},
    )


@pytest.fixture
def acme_enables_google_and_facebook(world):
    config = {
        "login_methods": ["password", "google", "facebook"],
        "social_providers": [
            {"provider": "google", "client_id": GOOGLE_APP.client_id},
            {"provider": "facebook", "client_id": FACEBOOK_APP.client_id},
        ],
    }
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    return world


@pytest.fixture
def recorded():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def dora(make_user):
    user = make_user("dora@example.org", password=PASSWORD, given_name="Dora")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def authorize_path(app_client) -> str:
    query = {
        "client_id": app_client.client_id,
        "response_type": "code",
        "redirect_uri": app_client.redirect_uris.split()[0],
        "scope": "openid email",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "state": "app-state",
    }
    return f"/o/authorize/?{urlencode(query)}"


def open_login_page(client, app_client):
    return client.get("/accounts/login/", {"next": authorize_path(app_client)})


def choose(client, provider: str, app_client):
    """Press the provider's button on the login page."""
    return client.post(
        f"/accounts/{provider}/login/?{urlencode({'process': 'login', 'next': authorize_path(app_client)})}"
    )


def come_back(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with(client, provider, app_client, recorded) -> object:
    """The whole round trip: button, provider's consent, callback; the hub's last answer."""
    open_login_page(client, app_client)
    started = choose(client, provider.name, app_client)
    assert started.status_code == 302, started.content[:300]
    provider.provider.record(recorded)
    return come_back(client, provider.provider.authorize(started["Location"]))


class Upstream:
    def __init__(self, name: str, provider) -> None:
        self.name, self.provider = name, provider


def google(person: Person) -> Upstream:
    return Upstream("google", Google(GOOGLE_APP, person))


def facebook(person: Person) -> Upstream:
    return Upstream("facebook", Facebook(FACEBOOK_APP, person))


def test_login_page_offers_the_providers_the_tenant_enables(client, acme_enables_google_and_facebook):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme", "bolt"])
    social_app(FACEBOOK_APP, "facebook", tenants=["acme"])

    page = open_login_page(client, world.acme.app).content.decode()
    assert "Continue with Google" in page and "Continue with Facebook" in page
    assert page.index("Continue with Google") < page.index("Continue with Facebook")  # the tenant's order


def test_a_tenant_that_did_not_enable_google_neither_shows_nor_accepts_it(
    client, acme_enables_google_and_facebook, recorded
):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme", "bolt"])  # the operator would allow Bolt

    page = open_login_page(client, world.bolt.app).content.decode()
    assert "Continue with" not in page

    started = choose(client, "google", world.bolt.app)
    assert started.status_code == 403
    assert "This sign-in option is not available here" in started.content.decode()
    assert "Bolt does not offer signing in this way" in started.content.decode()

    # A callback forged or replayed while Bolt is being served: refused before any provider call.
    person = Person(sub="110169484474386276334", email="mallory@example.net")
    upstream = google(person)
    upstream.provider.record(recorded)
    code_url = f"http://testserver/accounts/google/login/callback/?{urlencode({'state': 'x', 'code': 'y'})}"
    answered = come_back(client, code_url)
    assert answered.status_code == 403
    assert len(recorded.calls) == 0
    assert not User.objects.filter(email=person.email).exists()
    assert not SocialAccount.objects.exists()


def test_an_app_the_operator_did_not_open_to_the_tenant_is_refused(client, acme_enables_google_and_facebook):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["bolt"])  # Acme's config names it; the operator did not allow Acme

    assert "Continue with Google" not in open_login_page(client, world.acme.app).content.decode()
    assert choose(client, "google", world.acme.app).status_code == 403


def test_an_unknown_openid_connect_provider_is_refused(client, acme_enables_google_and_facebook):
    open_login_page(client, acme_enables_google_and_facebook.acme.app)
    response = client.post("/accounts/oidc/nobody/login/?process=login")
    assert response.status_code == 403
    assert "This sign-in option is not available here" in response.content.decode()


def test_google_sign_in_creates_an_account_linked_to_the_google_identity(
    client, acme_enables_google_and_facebook, recorded
):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme"])
    person = Person(sub="110169484474386276334", email="gina@gmail.com", given_name="Gina", family_name="Gale")

    answer = sign_in_with(client, google(person), world.acme.app, recorded)

    assert answer.status_code == 302 and answer["Location"] == authorize_path(world.acme.app)
    user = User.objects.get(email="gina@gmail.com")
    assert (user.given_name, user.family_name, user.email_verified) == ("Gina", "Gale", True)
    assert SocialAccount.objects.get(provider="google", uid=person.sub).user == user
    assert EmailAddress.objects.get(user=user).verified
    assert int(client.session["_auth_user_id"]) == user.pk


def test_an_untrusted_provider_never_signs_in_to_an_existing_account_by_email(
    client, acme_enables_google_and_facebook, recorded, dora, django_capture_on_commit_callbacks
):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme"])  # not marked trusted for email linking
    person = Person(sub="118888888888888888888", email=dora.email, email_verified=True)

    with django_capture_on_commit_callbacks(execute=True):  # account mail leaves after commit
        answer = sign_in_with(client, google(person), world.acme.app, recorded)

    assert "_auth_user_id" not in client.session
    assert answer.status_code == 302 and answer["Location"] == "/accounts/confirm-email/"
    assert not SocialAccount.objects.exists()
    assert User.objects.filter(email=dora.email).count() == 1
    dora.refresh_from_db()
    assert dora.has_usable_password() and dora.check_password(PASSWORD)
    # The owner of the address hears of it (and how to sign in), not whoever came from Google.
    assert [message.to for message in mail.outbox] == [[dora.email]]


def test_an_unverified_email_never_links_even_from_a_trusted_app(
    client, acme_enables_google_and_facebook, recorded, dora
):
    world = acme_enables_google_and_facebook
    social_app(FACEBOOK_APP, "facebook", tenants=["acme"], email_authentication=True)
    person = Person(sub="10158891234567890", email=dora.email)  # Facebook never vouches for an address

    sign_in_with(client, facebook(person), world.acme.app, recorded)

    assert "_auth_user_id" not in client.session
    assert not SocialAccount.objects.exists()


def test_a_trusted_app_does_not_link_an_address_the_hub_never_verified(
    client, acme_enables_google_and_facebook, recorded, make_user
):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme"], email_authentication=True)
    squatter = make_user("victim@example.org", password=PASSWORD)
    EmailAddress.objects.create(user=squatter, email=squatter.email, verified=False, primary=True)

    sign_in_with(client, google(Person(sub="117777", email="victim@example.org")), world.acme.app, recorded)

    assert "_auth_user_id" not in client.session
    assert not SocialAccount.objects.exists()


def test_a_verified_email_from_a_trusted_app_signs_in_and_connects_the_account(
    client, acme_enables_google_and_facebook, recorded, dora
):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme"], email_authentication=True)
    person = Person(sub="118888888888888888888", email="Dora@Example.org", email_verified=True)

    answer = sign_in_with(client, google(person), world.acme.app, recorded)

    assert answer.status_code == 302 and answer["Location"] == authorize_path(world.acme.app)
    assert int(client.session["_auth_user_id"]) == dora.pk
    assert SocialAccount.objects.get(provider="google", uid=person.sub).user == dora
    assert dora.__class__.objects.get(pk=dora.pk).check_password(PASSWORD)  # nothing wiped


@pytest.mark.django_db(transaction=True)  # the confirmation mail leaves on commit
def test_a_new_facebook_user_must_verify_the_address_first(client, acme_enables_google_and_facebook, recorded):
    world = acme_enables_google_and_facebook
    social_app(FACEBOOK_APP, "facebook", tenants=["acme"])
    person = Person(sub="10158891234567890", email="fred@example.net", given_name="Fred", family_name="Fisher")

    answer = sign_in_with(client, facebook(person), world.acme.app, recorded)

    assert answer.status_code == 302 and answer["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    user = User.objects.get(email="fred@example.net")
    assert not user.email_verified and not EmailAddress.objects.get(user=user).verified
    assert SocialAccount.objects.get(provider="facebook", uid=person.sub).user == user
    assert [message.to for message in mail.outbox] == [["fred@example.net"]]


def test_the_admin_form_never_shows_a_provider_secret_and_keeps_it_when_left_empty():
    from accounts.signin.social_admin import HubSocialAppForm

    app = social_app(GOOGLE_APP, "google", tenants=["acme"])
    form = HubSocialAppForm(instance=app)
    assert GOOGLE_APP.secret not in form.as_p()

    data = {"provider": "google", "name": "Google", "client_id": app.client_id, "secret": "", "key": ""}
    edited = HubSocialAppForm({**data, "settings": '{"tenants": ["acme", "bolt"]}'}, instance=app)
    assert edited.is_valid(), edited.errors
    edited.save()
    app.refresh_from_db()
    assert app.secret == GOOGLE_APP.secret and app.settings["tenants"] == ["acme", "bolt"]
