"""prompt=login, max_age and step-up MFA ask for what the user has and the tenant takes
(bugs found by a bug hunt of session 6; docs/decisions/0034)."""

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.oidc.authentication import session_authentication
from accounts.signin.context import signin_context_for_client
from accounts.signin.mfa import mfa_requirement_response
from tests import test_signin_policy
from tests.test_mfa_policy import request_as
from tests.test_signin_policy import (
    PASSWORD,
    authorize_path,
    configure,
    signed_in,
)

alice = test_signin_policy.alice  # the fixture: Alice with a password and a verified address

SIGN_IN_AGAIN = reverse("signin_sign_in_again")
SIGN_IN_AGAIN_CODE = reverse("signin_sign_in_again_code")


def _code_of(message) -> str:
    return re.findall(r"\b(\d{6})\b", message.body)[-1]


# --- 1. prompt=login and max_age: a method the user has and the tenant takes -----------------------


def _sign_in_again_page(answer) -> tuple[str, str]:
    """Where the authorization endpoint sent the user, and the request it sends them back to."""
    page = urlsplit(answer["Location"])
    return page.path, parse_qs(page.query)["next"][0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_a_user_without_a_password_answers_prompt_login_and_max_age_with_a_code(client, world, make_user, extra):
    """A user who signs in by email code (no password at all), at a tenant that offers only
    that, is asked to sign in again with a code sent to their own address, not for a
    password they do not have; the code back takes them to the app, which gets a code of
    its own, and the session holds the new sign-in (the ID token's auth_time)."""
    configure(world.acme.tenant, login_methods=["email_code"])
    dora = make_user("dora@example.org")
    EmailAddress.objects.create(user=dora, email=dora.email, verified=True, primary=True)
    assert not dora.has_usable_password()
    signed_in(client, dora, {"method": "code", "email": dora.email, "at": time.time() - 60})

    path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, **extra)))
    assert path == SIGN_IN_AGAIN
    assert "prompt" not in parse_qs(urlsplit(next_url).query)
    assert "max_age" not in parse_qs(urlsplit(next_url).query)
    page = client.get(path, {"next": next_url}).content.decode()
    assert "Email a sign-in code to dora@example.org" in page
    assert 'name="password"' not in page

    sent = client.post(SIGN_IN_AGAIN, {"channel": "email", "next": next_url})
    assert urlsplit(sent["Location"]).path == SIGN_IN_AGAIN_CODE
    assert mail.outbox[-1].to == ["dora@example.org"]
    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": _code_of(mail.outbox[-1]), "next": next_url})
    assert answer["Location"] == next_url
    assert client.get(next_url)["Location"].startswith("https://app.acme.example/callback?code=")
    newest = client.session[AUTHENTICATION_METHODS_SESSION_KEY][-1]
    assert newest["method"] == "code" and time.time() - newest["at"] < 5


@pytest.mark.django_db(transaction=True)
def test_signing_in_again_by_code_keeps_the_session_and_its_second_factor(client, world, make_user):
    """Signing in again by code keeps the session meanwhile: a wrong code is refused on the
    same page, the user still signed in as before; the right one adds the new sign-in to
    the session's record, whose second factor still counts."""
    configure(world.acme.tenant, login_methods=["email_code"])
    dora = make_user("dora@example.org")
    EmailAddress.objects.create(user=dora, email=dora.email, verified=True, primary=True)
    before = [{"method": "code", "email": dora.email}, {"method": "mfa", "type": "totp", "id": 1}]
    signed_in(client, dora, *before)
    _path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))
    client.post(SIGN_IN_AGAIN, {"channel": "email", "next": next_url})
    wrong = "000000" if _code_of(mail.outbox[-1]) != "000000" else "111111"

    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": wrong, "next": next_url})
    assert answer.status_code == 200
    assert "Enter your sign-in code" in answer.content.decode()
    assert client.session["_auth_user_id"] == str(dora.pk)
    assert [record["method"] for record in client.session[AUTHENTICATION_METHODS_SESSION_KEY]] == ["code", "mfa"]

    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": _code_of(mail.outbox[-1]), "next": next_url})
    assert answer["Location"] == next_url
    records = client.session[AUTHENTICATION_METHODS_SESSION_KEY]
    assert [record["method"] for record in records] == ["code", "mfa", "code"]


@pytest.mark.django_db(transaction=True)
def test_a_user_known_by_phone_answers_max_age_with_a_text_message(client, world, make_user, tmp_path, settings):
    """A user who signed up by phone (no email, no password), at a tenant that takes only
    SMS codes, gets the code by text message to their verified number."""
    settings.SMS_BACKEND, settings.SMS_OUTBOX_DIR = "console", tmp_path
    configure(world.acme.tenant, login_methods=["sms_code"], otp={"channels": ["sms"]})
    sam = make_user(phone_number="+4915123456789", phone_number_verified=True)
    signed_in(client, sam, {"method": "code", "phone": sam.phone_number, "at": time.time() - 60})
    path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, max_age="30")))
    assert "Text a sign-in code to +4915123456789" in client.get(path, {"next": next_url}).content.decode()

    client.post(SIGN_IN_AGAIN, {"channel": "sms", "next": next_url})
    (text,) = [found.read_text() for found in tmp_path.glob("*.txt")]
    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": re.findall(r"\b(\d{6})\b", text)[-1], "next": next_url})
    assert answer["Location"] == next_url
    assert client.get(next_url)["Location"].startswith("https://app.acme.example/callback?code=")


def test_a_user_without_a_password_is_offered_the_tenants_provider(client, world, make_user):
    """At a tenant that takes passwords and Google, a user who signed in with Google (no
    password, no address a code may go to) is offered Google, which comes back to the request."""
    client_id = "301234-acme.apps.googleusercontent.com"
    SocialApp.objects.create(
        provider="google", name="Google", client_id=client_id, secret="x", settings={"tenants": ["acme"]}
    )
    providers = [{"provider": "google", "client_id": client_id}]
    configure(world.acme.tenant, login_methods=["password", "google"], social_providers=providers)
    gina = make_user("gina@example.org")
    signed_in(client, gina, {"method": "socialaccount", "provider": "google", "uid": "1"})
    path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))

    page = client.get(path, {"next": next_url}).content.decode()
    assert "Continue with Google" in page
    (action,) = re.findall(r'<form method="post" action="(/accounts/google/login/[^"]*)"', page)
    assert parse_qs(urlsplit(html.unescape(action)).query)["next"] == [next_url]
    assert "sign-in code" not in page and 'name="password"' not in page


def test_someone_else_signs_in_again_after_signing_out_on_the_tenants_login_page(client, world, make_user):
    """The page's other way: signing out returns to the authorization request, which, with
    nobody signed in, shows the tenant's login page; whoever signs in there is who the app gets."""
    configure(world.acme.tenant, login_methods=["email_code"])
    dora = make_user("dora@example.org")
    signed_in(client, dora, {"method": "code", "email": dora.email})
    _path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))

    answer = client.post(reverse("account_logout"), {"next": next_url})
    assert answer["Location"] == next_url
    assert "_auth_user_id" not in client.session
    login_page = urlsplit(client.get(next_url)["Location"])
    assert login_page.path == reverse("account_login")
    assert parse_qs(login_page.query)["next"] == [next_url]


def test_prompt_login_at_a_tenant_without_passwords_asks_for_a_code_not_the_password(client, world, alice):
    """A user who has a password, at a tenant that does not offer passwords, is not asked
    for it by prompt=login: the page offers a code to their address, and no password field."""
    configure(world.acme.tenant, login_methods=["email_code"])
    signed_in(client, alice, {"method": "code", "email": alice.email})
    path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))
    assert path == SIGN_IN_AGAIN
    page = client.get(path, {"next": next_url}).content.decode()
    assert f"Email a sign-in code to {alice.email}" in page
    assert 'name="password"' not in page


def test_prompt_login_at_a_tenant_with_passwords_asks_a_user_with_one_for_it(client, world, alice):
    """Where the tenant takes passwords, a user who has one re-enters it: allauth's page."""
    signed_in(client, alice, {"method": "password", "email": alice.email})
    path, _next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))
    assert path == reverse("account_reauthenticate")


# --- 2. MFA: the factor asked for is one the user has and the tenant takes ---------------------------


def _enrol(user, factor: str) -> None:
    if factor == "totp":
        TOTP.activate(user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    else:
        Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={"name": "phone"})


@pytest.mark.parametrize(
    ("methods", "factors", "proved", "asked_at"),
    [
        (["webauthn"], ["totp"], "totp", "mfa_add_webauthn"),  # a TOTP user at a passkey-only tenant
        (["totp", "recovery_codes"], ["webauthn"], "webauthn", "mfa_activate_totp"),  # a passkey user at the default
        (["webauthn"], ["totp", "webauthn"], "totp", "mfa_reauthenticate_webauthn"),  # both, at a passkey-only one
    ],
)
def test_a_second_factor_the_tenant_does_not_take_leads_to_one_it_takes(
    world, alice, methods, factors, proved, asked_at
):
    """A proof of a factor outside mfa.methods does not count. The user is not sent to prove
    that factor again (round in a loop; for a passkey user at the default tenant, a recovery
    code spent each time): they are asked for a factor they have that the tenant takes, or,
    having none, sent to enrol one, and from there back to the authorization request."""
    configure(world.acme.tenant, mfa={"required": True, "methods": methods})
    for factor in factors:
        _enrol(alice, factor)
    path = authorize_path(world.acme.app)
    just_proved_it = request_as(
        alice,
        path,
        {"method": "password", "email": alice.email},
        {"method": "mfa", "type": proved, "id": 1, "reauthenticated": True},
    )
    response = mfa_requirement_response(just_proved_it, signin_context_for_client(world.acme.app))
    page = urlsplit(response["Location"])
    assert page.path == reverse(asked_at)
    assert parse_qs(page.query)["next"] == [path]


# --- 3. What counts, and for whose request (review of session 6's signing in again) ----------------


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def _records(client) -> list[str]:
    return [record["method"] for record in client.session[AUTHENTICATION_METHODS_SESSION_KEY]]


def _refused(answer) -> bool:
    """The pages' answer to an invalid ``next``: away to the hub's start page."""
    return answer.status_code == 302 and answer["Location"] == settings.LOGIN_REDIRECT_URL


@pytest.mark.django_db(transaction=True)
def test_a_password_typed_again_does_not_satisfy_max_age_where_the_tenant_takes_only_codes(client, world, alice):
    """At a tenant that takes only email codes, a user who has a password and types it on
    allauth's re-authentication page has not signed in again there: max_age still asks."""
    configure(world.acme.tenant, login_methods=["email_code"])
    signed_in(client, alice, {"method": "code", "email": alice.email, "at": time.time() - 120})
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert _records(client)[-1] == "password", "allauth took the password"

    answer = client.get(authorize_path(world.acme.app, max_age="60"))
    assert urlsplit(answer["Location"]).path == SIGN_IN_AGAIN, "a password the tenant does not take satisfied max_age"


@pytest.mark.django_db(transaction=True)
def test_a_code_where_the_tenant_takes_only_passwords_does_not_satisfy_max_age(client, world, alice):
    """The other way round: at a password-only tenant, a code sign-in (one sent for another
    tenant's request, say) does not make a password sign-in younger than max_age."""
    configure(world.acme.tenant, login_methods=["password"])
    signed_in(
        client,
        alice,
        {"method": "password", "email": alice.email, "at": time.time() - 120},
        {"method": "code", "email": alice.email, "reauthenticated": True},
    )
    answer = client.get(authorize_path(world.acme.app, max_age="60"))
    assert urlsplit(answer["Location"]).path == reverse("account_reauthenticate")


def test_auth_time_is_the_newest_sign_in_by_a_method_the_requests_tenant_takes(world, alice):
    """max_age and the ID token's auth_time read the same time: of the sign-in that counts
    at the tenant of the authorization request (its login_methods), not of the newest one."""
    configure(world.acme.tenant, login_methods=["email_code"])
    code_at, password_at = time.time() - 30, time.time() - 5
    for app, expected in ((world.acme.app, code_at), (world.bolt.app, password_at)):
        request = request_as(alice, authorize_path(app), {"method": "password"})
        request.session[AUTHENTICATION_METHODS_SESSION_KEY] = [
            {"method": "code", "email": alice.email, "at": code_at},
            {"method": "password", "email": alice.email, "at": password_at},
        ]
        assert session_authentication(request)["auth_time"] == int(expected)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("acme_methods", [["password"], ["email_code"]])
def test_the_pages_serve_only_the_request_the_authorization_endpoint_sent_the_user_for(
    client, world, alice, acme_methods
):
    """Sent to sign in again for Acme's request (allauth's password page, or the hub's), a
    user cannot fetch a code on the hub's pages for Bolt's request (which takes codes) and
    carry it back: a ``next`` naming another client is refused as an invalid one, on both
    pages, GET and POST."""
    configure(world.acme.tenant, login_methods=acme_methods)
    signed_in(client, alice, {"method": acme_methods[0].replace("email_", ""), "email": alice.email, "at": 1})
    client.get(authorize_path(world.acme.app, max_age="60"))
    elsewhere = authorize_path(world.bolt.app)

    assert _refused(client.get(SIGN_IN_AGAIN, {"next": elsewhere}))
    assert _refused(client.post(SIGN_IN_AGAIN, {"channel": "email", "next": elsewhere}))
    assert not mail.outbox
    assert _refused(client.get(SIGN_IN_AGAIN_CODE, {"next": elsewhere}))
    assert _refused(client.post(SIGN_IN_AGAIN_CODE, {"code": "123456", "next": elsewhere}))


@pytest.mark.django_db(transaction=True)
def test_the_code_page_holds_the_code_to_the_rules_of_the_tenant_it_was_sent_for(client, world, alice, make_tenant):
    """A code sent for Acme's request (one try, one minute) keeps Acme's rules on the code
    page even when the session has since been sent to sign in again for Bolt's request (five
    tries, ten minutes) and the page's ``next`` names Bolt's."""
    configure(world.acme.tenant, login_methods=["email_code"], otp={"max_attempts": 1, "ttl_seconds": 60})
    configure(world.bolt.tenant, login_methods=["email_code"])
    signed_in(client, alice, {"method": "code", "email": alice.email, "at": 1})
    _path, acme_next = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))
    client.post(SIGN_IN_AGAIN, {"channel": "email", "next": acme_next})
    code = _code_of(mail.outbox[-1])
    _path, bolt_next = _sign_in_again_page(client.get(authorize_path(world.bolt.app, prompt="login", ui_locales="en")))

    page = client.get(SIGN_IN_AGAIN_CODE, {"next": bolt_next}).content.decode()
    assert "for 1 minute." in page, "the page gave the code Bolt's lifetime"
    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": _wrong(code), "next": bolt_next})
    assert answer.status_code == 302 and urlsplit(answer["Location"]).path == SIGN_IN_AGAIN, "Acme's one try"
    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": code, "next": bolt_next})
    assert urlsplit(answer["Location"]).path == SIGN_IN_AGAIN
    assert _records(client) == ["code"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "next_url",
    [
        "/o/authorize/?client_id=no-such-client",
        "https://elsewhere.example/o/authorize/?client_id={client_id}",
        "{disabled}",
    ],
)
def test_a_next_that_is_not_a_live_clients_request_is_refused(client, world, make_user, next_url):
    configure(world.acme.tenant, login_methods=["email_code"])
    dora = make_user("dora@example.org")
    EmailAddress.objects.create(user=dora, email=dora.email, verified=True, primary=True)
    signed_in(client, dora, {"method": "code", "email": dora.email, "at": 1})
    _path, bound = _sign_in_again_page(client.get(authorize_path(world.acme.app, max_age="60")))
    if next_url == "{disabled}":
        world.acme.app.disabled_at = timezone.now()
        world.acme.app.save(update_fields=["disabled_at"])
    next_url = next_url.format(client_id=world.acme.app.client_id, disabled=bound)

    assert _refused(client.get(SIGN_IN_AGAIN, {"next": next_url}))
    assert _refused(client.post(SIGN_IN_AGAIN, {"channel": "email", "next": next_url}))
    assert _refused(client.get(SIGN_IN_AGAIN_CODE, {"next": next_url}))
    assert not mail.outbox


def test_a_user_not_signed_in_is_sent_to_sign_in(client, world):
    next_url = authorize_path(world.acme.app)
    for page in (SIGN_IN_AGAIN, SIGN_IN_AGAIN_CODE):
        answer = client.get(page, {"next": next_url}, follow=True)
        login_page = urlsplit(answer.redirect_chain[-1][0])
        assert login_page.path == reverse("account_login")
        assert parse_qs(login_page.query)["next"] == [next_url]


@pytest.mark.django_db(transaction=True)
def test_the_code_page_without_a_pending_code_sends_the_user_to_ask_for_one(client, world, make_user):
    configure(world.acme.tenant, login_methods=["email_code"])
    dora = make_user("dora@example.org")
    signed_in(client, dora, {"method": "code", "email": dora.email, "at": 1})
    _path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))
    for answer in (
        client.get(SIGN_IN_AGAIN_CODE, {"next": next_url}),
        client.post(SIGN_IN_AGAIN_CODE, {"code": "123456", "next": next_url}),
    ):
        page = urlsplit(answer["Location"])
        assert (page.path, parse_qs(page.query)["next"]) == (SIGN_IN_AGAIN, [next_url])
    assert _records(client) == ["code"]


@pytest.mark.django_db(transaction=True)
def test_the_tenants_tries_end_the_code(client, world, make_user):
    """At a tenant allowing two tries, the second wrong code ends the code: the right one
    after it is refused, and the session has no new sign-in."""
    configure(world.acme.tenant, login_methods=["email_code"], otp={"max_attempts": 2})
    dora = make_user("dora@example.org")
    EmailAddress.objects.create(user=dora, email=dora.email, verified=True, primary=True)
    signed_in(client, dora, {"method": "code", "email": dora.email, "at": 1})
    _path, next_url = _sign_in_again_page(client.get(authorize_path(world.acme.app, prompt="login")))
    client.post(SIGN_IN_AGAIN, {"channel": "email", "next": next_url})
    code = _code_of(mail.outbox[-1])

    assert client.post(SIGN_IN_AGAIN_CODE, {"code": _wrong(code), "next": next_url}).status_code == 200
    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": _wrong(code), "next": next_url})
    assert urlsplit(answer["Location"]).path == SIGN_IN_AGAIN
    answer = client.post(SIGN_IN_AGAIN_CODE, {"code": code, "next": next_url})
    assert urlsplit(answer["Location"]).path == SIGN_IN_AGAIN
    assert _records(client) == ["code"]


def test_a_second_factor_confirmed_on_the_reauthentication_page_satisfies_max_age(client, world, alice):
    """allauth's password page offers "other ways to confirm" (an authenticator app): a
    factor the tenant takes, proved there, is signing in again."""
    signed_in(client, alice, {"method": "password", "email": alice.email})
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    records[0]["at"] -= 600
    records.append({"method": "mfa", "type": "totp", "reauthenticated": True, "at": time.time()})
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()
    answer = client.get(authorize_path(world.acme.app, max_age="60"))
    assert answer["Location"].startswith(world.acme.app.redirect_uris.split()[0] + "?code="), answer["Location"]
