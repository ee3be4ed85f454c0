"""Each tenant's sign-in rules on its pages and at its authorization endpoint.

The login page takes its branding and methods from the tenant whose app sent the user
there; a session opened with a method another tenant accepts does not carry into a
tenant that does not accept it; ``ui_locales`` picks the page's language.
"""

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.account.models import EmailAddress

from tenants.services import tenant_config_update
from tests.conftest import SYSTEM

PASSWORD = "a long and unusual passphrase"
VERIFIER = "v" * 64


def authorize_path(app, **extra) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uris.split()[0],
        "scope": "openid email",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"/o/authorize/?{urlencode(query)}"


def configure(tenant, **config) -> None:
    tenant_config_update(actor=SYSTEM, tenant=tenant, config=config, partial=True)


def signed_in(client, user, *records) -> None:
    """A hub session for ``user`` opened with the given allauth authentication records."""
    client.force_login(user)
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [{"at": time.time(), **record} for record in records]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()


@pytest.fixture
def alice(world):
    world.alice.set_password(PASSWORD)
    world.alice.save()
    EmailAddress.objects.update_or_create(
        user=world.alice, email=world.alice.email, defaults={"verified": True, "primary": True}
    )
    return world.alice


def test_the_login_page_wears_the_tenants_branding(client, world):
    branding = {
        "display_name": "Acme Daily",
        "logo_url": "https://cdn.acme.example/logo.svg",
        "primary_color": "#aa3300",
        "support_url": "mailto:help@acme.example",
    }
    configure(world.acme.tenant, branding=branding)
    page = client.get(authorize_path(world.acme.app), follow=True)
    text = page.content.decode()
    assert "--brand: #aa3300;" in text
    assert '<img src="https://cdn.acme.example/logo.svg" alt="">' in text
    assert "<span>Acme Daily</span>" in text
    assert '<a href="mailto:help@acme.example">Help and support</a>' in text

    other = client.get(authorize_path(world.bolt.app), follow=True).content.decode()
    assert "Acme Daily" not in other and "#aa3300" not in other
    assert "--brand: #1f4e79;" in other  # the schema's default colour


def test_a_tenant_without_passwords_shows_no_password_field_and_refuses_one(client, world, alice):
    configure(world.acme.tenant, login_methods=["email_code"])
    login = client.get(authorize_path(world.acme.app), follow=True)
    assert 'name="password"' not in login.content.decode()
    next_url = parse_qs(urlsplit(login.redirect_chain[-1][0]).query)["next"][0]

    answer = client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD, "next": next_url})
    assert answer.status_code == 200
    assert "does not offer sign-in with a password" in answer.content.decode()
    assert "_auth_user_id" not in client.session

    # The same password on a tenant that offers it signs in.
    bolt_next = authorize_path(world.bolt.app)
    answer = client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD, "next": bolt_next})
    assert answer.status_code == 302
    assert answer["Location"] == bolt_next


def test_a_session_from_a_method_the_tenant_does_not_take_is_asked_to_sign_in_again(client, world, alice):
    configure(world.acme.tenant, login_methods=["password"])
    signed_in(client, alice, {"method": "code", "email": alice.email})

    answer = client.get(authorize_path(world.acme.app))
    assert answer.status_code == 302
    assert urlsplit(answer["Location"]).path == "/accounts/login/"
    assert "password" in client.get(answer["Location"]).content.decode()

    # The same session is good for a tenant that takes email codes (SSO) ...
    answer = client.get(authorize_path(world.bolt.app))
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://app.bolt.example/callback?code=")

    # ... and prompt=none tells acme's app that a sign-in is needed, showing nothing.
    answer = client.get(authorize_path(world.acme.app, prompt="none"))
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://app.acme.example/callback?")
    assert parse_qs(urlsplit(answer["Location"]).query)["error"] == ["login_required"]


def test_signing_in_with_an_accepted_method_then_lets_the_user_through(client, world, alice):
    configure(world.acme.tenant, login_methods=["password"])
    signed_in(client, alice, {"method": "code", "email": alice.email})
    target = authorize_path(world.acme.app)
    answer = client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD, "next": target})
    assert answer.status_code == 302
    answer = client.get(answer["Location"])
    assert answer["Location"].startswith("https://app.acme.example/callback?code=")


def test_ui_locales_picks_german_where_the_tenant_offers_it(client, world):
    page = client.get(authorize_path(world.acme.app, ui_locales="de-CH en"), follow=True)
    assert page.content.decode().count('lang="de"') == 1
    assert "Anmelden" in page.content.decode()
    # The choice holds for the rest of the sign-in.
    assert client.get("/accounts/login/").content.decode().count('lang="de"') == 1


def test_ui_locales_outside_the_tenants_languages_is_ignored(client, world):
    configure(world.acme.tenant, locales=["en"])
    page = client.get(authorize_path(world.acme.app, ui_locales="de"), follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert 'lang="en"' in page.content.decode()


def test_login_hint_prefills_the_address(client, world):
    page = client.get(authorize_path(world.acme.app, login_hint="alice@example.org"), follow=True).content.decode()
    assert 'value="alice@example.org"' in page
    page = client.get(authorize_path(world.acme.app, login_hint="<script>"), follow=True).content.decode()
    assert "&lt;script&gt;" not in page and "<script>" not in page


@pytest.mark.django_db(transaction=True)  # the confirmation mail leaves on commit
def test_confirming_the_address_after_sign_up_goes_on_to_the_app(client, world):
    from django.core import mail

    target = authorize_path(world.acme.app)
    client.get(target, follow=True)
    answer = client.post("/accounts/signup/", {"email": "newcomer@example.org", "password1": PASSWORD, "next": target})
    assert answer.status_code == 302
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    answer = client.post(urlsplit(link).path)
    assert answer.status_code == 302
    login = urlsplit(answer["Location"])
    assert login.path == "/accounts/login/"
    assert parse_qs(login.query)["next"] == [target]
