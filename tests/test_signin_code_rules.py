"""Sign-in rules a bug hunt (session 6) found broken: a code keeps the rules of the tenant
it was asked for at, a silent check leaves a guest's session alone, and a text message with
a one-minute code says "1 minute"."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tenants.services import tenant_config_update
from tests.conftest import SYSTEM
from tests.test_signin_policy import authorize_path

CODE_REQUEST = reverse("account_request_login_code")
CODE_CONFIRM = reverse("account_confirm_login_code")


def configure(tenant, **config) -> None:
    tenant_config_update(actor=SYSTEM, tenant=tenant, config=config, partial=True)


def _next_for(make_tenant, make_client, slug: str, **config) -> str:
    tenant = make_tenant(slug, config=config)
    app, _ = make_client(tenant, public=True)
    return "/o/authorize/?" + urlencode({"client_id": app.client_id, "response_type": "code"})


def _code_of(message) -> str:
    return re.findall(r"\b(\d{6})\b", message.body)[-1]


# --- 1. A code keeps the tries and the lifetime of the tenant it was asked for at --------------


@pytest.fixture
def lenient(make_tenant, make_client) -> str:
    """The ``next`` of an app whose tenant keeps the defaults (5 tries, 10 minutes)."""
    return _next_for(make_tenant, make_client, "lenient")


def _signed_in(browser) -> bool:
    return "_auth_user_id" in browser.session


def _age_pending_code(browser, seconds: int) -> None:
    """Move the session's pending code sign-in ``seconds`` into the past."""
    session = browser.session
    stash = session["account_login"]
    stash["state"]["stages"]["login_by_code"]["data"]["at"] -= seconds
    session["account_login"] = stash
    session.save()


@pytest.mark.django_db(transaction=True)
def test_a_code_gets_the_tries_of_the_tenant_it_was_asked_for_at_whatever_next_names(
    make_tenant, make_client, lenient, make_user
):
    """A tenant allowing one try gets one: the code page holds the code to the rules of the
    tenant it was asked for at, not of the tenant its ``next`` names (the sender's choice)."""
    strict = _next_for(make_tenant, make_client, "strict", login_methods=["email_code"], otp={"max_attempts": 1})
    make_user("dora@example.org")
    browser = Client()
    browser.post(CODE_REQUEST, {"channel": "email", "email": "dora@example.org", "next": strict})
    code = _code_of(mail.outbox[-1])
    wrong = "000000" if code != "000000" else "111111"

    answer = browser.post(CODE_CONFIRM, {"code": wrong, "action": "verify", "next": lenient})
    assert answer.status_code == 302 and answer.url.startswith(CODE_REQUEST), "the one try did not end the code"
    answer = browser.post(CODE_CONFIRM, {"code": code, "action": "verify", "next": strict})
    assert answer.status_code == 302 and answer.url.startswith(CODE_REQUEST)
    assert not _signed_in(browser), "a code the strict tenant allows one try for took two"


@pytest.mark.django_db(transaction=True)
def test_a_code_expires_with_the_tenant_it_was_asked_for_at_whatever_next_names(
    make_tenant, make_client, lenient, make_user
):
    """The same for the lifetime: two minutes is past the one minute the tenant gives."""
    brief = _next_for(make_tenant, make_client, "brief", login_methods=["email_code"], otp={"ttl_seconds": 60})
    make_user("dora@example.org")
    browser = Client()
    browser.post(CODE_REQUEST, {"channel": "email", "email": "dora@example.org", "next": brief})
    _age_pending_code(browser, 120)

    answer = browser.post(CODE_CONFIRM, {"code": _code_of(mail.outbox[-1]), "action": "verify", "next": lenient})
    assert answer.status_code == 200 and "expired" in answer.content.decode()
    assert not _signed_in(browser)


@pytest.mark.django_db(transaction=True)
def test_a_code_sent_again_keeps_the_tenant_the_first_was_asked_for_at(
    make_tenant, make_client, lenient, make_user, settings
):
    """Should the hub offer allauth's "send again" (off today): from a code page whose
    ``next`` names another tenant it makes a new code for the same sign-in, held to the
    same rules."""
    settings.ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND = True
    brief = _next_for(make_tenant, make_client, "brief", login_methods=["email_code"], otp={"ttl_seconds": 60})
    make_user("dora@example.org")
    browser = Client()
    browser.post(CODE_REQUEST, {"channel": "email", "email": "dora@example.org", "next": brief})
    browser.post(CODE_CONFIRM, {"action": "resend", "next": lenient})
    assert len(mail.outbox) == 2
    _age_pending_code(browser, 120)

    answer = browser.post(CODE_CONFIRM, {"code": _code_of(mail.outbox[-1]), "action": "verify", "next": lenient})
    assert answer.status_code == 200 and "expired" in answer.content.decode()
    assert not _signed_in(browser)


# --- 2. Guests: a silent check elsewhere leaves the guest signed in ---------------------------


def test_a_silent_prompt_none_check_by_another_tenant_leaves_the_guest_signed_in(client, world):
    """prompt=none only asks: acme (no guests) answers login_required and leaves the session
    as it was, so Bolt's app, where the guest is shopping, still finds the guest signed in."""
    configure(world.bolt.tenant, login_methods=["password", "guest"])
    client.post("/accounts/guest/", {"next": authorize_path(world.bolt.app)})
    assert client.get(authorize_path(world.bolt.app))["Location"].startswith("https://app.bolt.example/callback?code=")

    answer = client.get(authorize_path(world.acme.app, prompt="none"))
    assert parse_qs(urlsplit(answer["Location"]).query)["error"] == ["login_required"]
    answer = client.get(authorize_path(world.bolt.app, prompt="none"))
    assert answer["Location"].startswith("https://app.bolt.example/callback?code="), "the guest was signed out"


# --- 3. The text message that carries a code --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sms_code_text_says_one_minute_in_the_singular(make_tenant, make_client, make_user, settings, tmp_path):
    """At the schema's minimum ttl (60 s) the text says "1 minute", as the mail does
    (``code_sms_text`` uses ngettext; the German catalog has both forms)."""
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    short = _next_for(
        make_tenant,
        make_client,
        "short",
        login_methods=["sms_code"],
        otp={"ttl_seconds": 60, "channels": ["sms"]},
    )
    make_user(phone_number="+4915123456789")
    Client().post(CODE_REQUEST, {"channel": "sms", "phone": "+4915123456789", "next": short})
    [text] = [path.read_text() for path in (tmp_path / "sms").glob("*.txt")]
    assert "It expires in 1 minute. " in text, text
