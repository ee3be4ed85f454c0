"""Sign-in by a code sent by email or SMS, held to each tenant's config, and the limits
and answers that keep strangers from guessing codes, passwords or who has an account.

Driven through the hub's real pages with Django's test client; mail lands in Django's test
outbox, text messages in the SMS outbox directory (SMS_OUTBOX_DIR).
"""

import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client as Browser
from django.urls import reverse

from accounts.models import User
from tenants.services import tenant_config_update
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long and unusual passphrase"
REQUEST = reverse("account_request_login_code")
CONFIRM = reverse("account_confirm_login_code")


@pytest.fixture(autouse=True)
def sms_outbox(tmp_path, settings) -> Path:
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    return settings.SMS_OUTBOX_DIR


def texts(outbox: Path) -> list[str]:
    return [path.read_text() for path in sorted(outbox.glob("*.txt"))] if outbox.exists() else []


def last_code(text: str, length: int = 6) -> str:
    return re.findall(rf"\b(\d{{{length}}})\b", text)[-1]


@pytest.fixture
def tenant_app(make_tenant, make_client):
    """A tenant with the given config, and the ``next`` its app's sign-in carries."""

    def make(slug: str = "harbour", **config) -> tuple:
        tenant = make_tenant(slug, config=config)
        client, _ = make_client(tenant, public=True)
        next_url = "/o/authorize/?" + urlencode({"client_id": client.client_id, "response_type": "code"})
        return tenant, next_url

    return make


@pytest.fixture
def codes_tenant(tenant_app):
    return tenant_app(
        login_methods=["password", "email_code", "sms_code"],
        otp={"length": 6, "ttl_seconds": 300, "max_attempts": 3, "channels": ["email", "sms"]},
    )


def request_code(browser: Browser, next_url: str, **data):
    data.setdefault("channel", "email")
    return browser.post(REQUEST, {**data, "next": next_url})


def enter_code(browser: Browser, next_url: str, code: str):
    return browser.post(CONFIRM, {"code": code, "action": "verify", "next": next_url})


def alert_of(response) -> str:
    found = re.search(r'role="alert">(.*?)</div>', response.content.decode(), re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else ""


def signed_in_user(browser: Browser):
    from django.contrib.auth import get_user

    request = type("R", (), {"session": browser.session})()
    return get_user(request)


# --- Email code: sign-in and sign-up ------------------------------------------------------


def test_email_code_signs_a_known_user_in_and_returns_to_the_authorization(codes_tenant, make_user):
    _tenant, next_url = codes_tenant
    dora = make_user("dora@example.org")
    browser = Browser()
    response = request_code(browser, next_url, email="Dora@Example.org")
    assert response.status_code == 302 and response.url.startswith(CONFIRM)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dora@example.org"]
    assert "Harbour" in mail.outbox[0].subject
    code = last_code(mail.outbox[0].body)

    response = enter_code(browser, next_url, code)
    assert response.status_code == 302 and response.url == next_url
    assert signed_in_user(browser) == dora
    dora.refresh_from_db()
    assert dora.email_verified
    assert EmailAddress.objects.get(user=dora, email="dora@example.org").verified


def test_an_unknown_address_signs_up_by_code(codes_tenant):
    _tenant, next_url = codes_tenant
    browser = Browser()
    request_code(browser, next_url, email="new@example.org")
    user = User.objects.get(email="new@example.org")
    assert not user.email_verified and not user.has_usable_password()
    response = enter_code(browser, next_url, last_code(mail.outbox[0].body))
    assert response.url == next_url
    user.refresh_from_db()
    assert user.email_verified and signed_in_user(browser) == user


def test_code_length_follows_the_tenant_config_at_once(codes_tenant, make_user):
    tenant, next_url = codes_tenant
    make_user("dora@example.org")
    request_code(Browser(), next_url, email="dora@example.org")
    assert re.search(r"^\d{6}$", mail.outbox[-1].body, re.M)

    tenant_config_update(actor=SYSTEM, tenant=tenant, config={"otp": {"length": 9}}, partial=True)
    request_code(Browser(), next_url, email="dora@example.org")
    assert re.search(r"^\d{9}$", mail.outbox[-1].body, re.M)


# --- SMS code ------------------------------------------------------------------------------


def test_sms_code_signs_in_by_phone_number_and_marks_it_verified(codes_tenant, make_user, sms_outbox):
    _tenant, next_url = codes_tenant
    sam = make_user(phone_number="+4915123456789")
    browser = Browser()
    response = request_code(browser, next_url, channel="sms", phone="+49 151 2345 6789")
    assert response.status_code == 302, alert_of(response)
    [text] = texts(sms_outbox)
    assert text.startswith("To: +4915123456789") and "Harbour" in text
    assert mail.outbox == []

    response = enter_code(browser, next_url, last_code(text))
    assert response.status_code == 302 and response.url == next_url
    assert signed_in_user(browser) == sam
    sam.refresh_from_db()
    assert sam.phone_number_verified


def test_a_new_phone_number_signs_up_by_sms_code(codes_tenant, sms_outbox):
    _tenant, next_url = codes_tenant
    browser = Browser()
    request_code(browser, next_url, channel="sms", phone="+4915199999999")
    response = enter_code(browser, next_url, last_code(texts(sms_outbox)[0]))
    assert response.url == next_url  # no email address to verify first
    user = User.objects.get(phone_number="+4915199999999")
    assert user.email is None and user.phone_number_verified and signed_in_user(browser) == user


# --- Bad input: a clear message, nothing changed, counted ---------------------------------


def test_a_wrong_code_is_refused_and_the_tenant_attempt_limit_ends_the_code(codes_tenant, make_user):
    _tenant, next_url = codes_tenant  # max_attempts: 3
    make_user("dora@example.org")
    browser = Browser()
    request_code(browser, next_url, email="dora@example.org")
    code = last_code(mail.outbox[0].body)
    wrong = "000000" if code != "000000" else "111111"

    for _ in range(2):
        response = enter_code(browser, next_url, wrong)
        assert response.status_code == 200
        assert "Incorrect code" in alert_of(response)
    response = enter_code(browser, next_url, wrong)  # the third miss spends the code
    assert response.status_code == 302 and not response.url.startswith(CONFIRM)
    response = enter_code(browser, next_url, code)  # even the right code is gone now
    assert response.status_code == 302 and not response.url.startswith(CONFIRM)
    assert signed_in_user(browser).is_anonymous


def test_an_expired_code_is_refused_with_a_message(codes_tenant, make_user):
    _tenant, next_url = codes_tenant  # ttl_seconds: 300
    make_user("dora@example.org")
    browser = Browser()
    request_code(browser, next_url, email="dora@example.org")
    session = browser.session
    # The sign-in waiting in this session was started six minutes ago.
    stash = session["account_login"]
    stash["state"]["stages"]["login_by_code"]["data"]["at"] -= 360
    session["account_login"] = stash
    session.save()

    response = enter_code(browser, next_url, last_code(mail.outbox[0].body))
    assert response.status_code == 200
    assert "expired" in alert_of(response)
    assert signed_in_user(browser).is_anonymous


def test_a_code_is_single_use(codes_tenant, make_user):
    _tenant, next_url = codes_tenant
    make_user("dora@example.org")
    browser = Browser()
    request_code(browser, next_url, email="dora@example.org")
    code = last_code(mail.outbox[0].body)
    assert enter_code(browser, next_url, code).url == next_url
    browser.logout()
    response = enter_code(browser, next_url, code)
    assert response.status_code == 302 and not response.url.startswith(next_url)
    assert signed_in_user(browser).is_anonymous


def test_a_code_from_another_sign_in_is_refused(codes_tenant, make_user):
    _tenant, next_url = codes_tenant
    make_user("dora@example.org")
    make_user("mallory@example.org")
    dora_browser, mallory_browser = Browser(), Browser()
    request_code(dora_browser, next_url, email="dora@example.org")
    request_code(mallory_browser, next_url, email="mallory@example.org")
    doras_code = last_code(mail.outbox[0].body)
    while last_code(mail.outbox[-1].body) == doras_code:  # one chance in a million: draw again
        request_code(mallory_browser := Browser(), next_url, email="mallory@example.org")

    response = enter_code(mallory_browser, next_url, doras_code)
    assert response.status_code == 200 and "Incorrect code" in alert_of(response)
    assert signed_in_user(mallory_browser).is_anonymous
    # A browser with no sign-in waiting cannot use it either.
    response = enter_code(Browser(), next_url, doras_code)
    assert response.status_code == 302 and response.url.startswith(REQUEST)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel": "email", "email": "not-an-address"}, "valid email"),
        ({"channel": "sms", "phone": "0151 2345"}, "country code"),
        ({"channel": "sms", "phone": "+49 abc"}, "country code"),
    ],
)
def test_a_malformed_address_gets_a_message_and_sends_nothing(codes_tenant, sms_outbox, data, message):
    _tenant, next_url = codes_tenant
    users = User.objects.count()
    response = request_code(Browser(), next_url, **data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert mail.outbox == [] and texts(sms_outbox) == [] and User.objects.count() == users


@pytest.mark.parametrize(
    ("channel", "field", "value"), [("sms", "phone", "+4915123456789"), ("email", "email", "dora@example.org")]
)
def test_a_method_the_tenant_does_not_offer_is_refused_on_the_page_and_on_post(
    tenant_app, make_user, sms_outbox, channel, field, value
):
    _tenant, next_url = tenant_app("plain", login_methods=["password"])
    make_user("dora@example.org", phone_number="+4915123456789")
    browser = Browser()
    page = browser.get(REQUEST, {"channel": channel, "next": next_url})
    assert page.status_code == 200
    assert "Plain does not offer sign-in with a code" in alert_of(page)
    assert f'name="{field}"' not in page.content.decode()

    response = request_code(browser, next_url, channel=channel, **{field: value})
    assert response.status_code == 200 and "does not offer" in alert_of(response)
    assert mail.outbox == [] and texts(sms_outbox) == []


def test_the_login_page_offers_only_the_code_methods_the_tenant_enables(tenant_app):
    _t, sms_only = tenant_app("texts", login_methods=["sms_code"], otp={"channels": ["sms"]})
    _t, default = tenant_app("plain")
    page = Browser().get(reverse("account_login"), {"next": sms_only}).content.decode()
    assert "Text me a sign-in code" in page and "Email me a sign-in code" not in page
    page = Browser().get(reverse("account_login"), {"next": default}).content.decode()
    assert "Email me a sign-in code" in page and "Text me a sign-in code" not in page


@pytest.mark.parametrize("disabled", ["disabled", "accounts.sms.backends.DisabledBackend"])
def test_with_sms_disabled_no_tenant_offers_sms_codes(codes_tenant, make_user, settings, sms_outbox, disabled):
    _tenant, next_url = codes_tenant  # its config asks for SMS codes
    settings.SMS_BACKEND = disabled
    make_user(phone_number="+4915123456789")
    browser = Browser()
    page = browser.get(reverse("account_login"), {"next": next_url}).content.decode()
    assert "Email me a sign-in code" in page and "Text me a sign-in code" not in page

    response = request_code(browser, next_url, channel="sms", phone="+4915123456789")
    assert response.status_code == 200 and "Harbour does not offer sign-in with a code by text message" in alert_of(
        response
    )
    assert texts(sms_outbox) == []
    assert request_code(browser, next_url, email="dora@example.org").status_code == 302  # email codes still go


# --- Enumeration: the same answer whether or not the account exists -----------------------


def _without_tokens(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return html.replace("dora@example.org", "ADDRESS").replace("nobody@example.org", "ADDRESS")


def test_code_requests_answer_the_same_for_known_and_unknown_addresses(codes_tenant, make_user):
    _tenant, next_url = codes_tenant
    make_user("dora@example.org")
    answers = []
    for email in ("dora@example.org", "nobody@example.org"):
        browser = Browser()
        response = request_code(browser, next_url, email=email)
        page = browser.get(response.url)
        answers.append((response.status_code, response.url, _without_tokens(page.content.decode())))
    assert answers[0] == answers[1]
    assert [message.to for message in mail.outbox] == [["dora@example.org"], ["nobody@example.org"]]


def test_password_failures_answer_the_same_for_known_and_unknown_accounts(codes_tenant, make_user):
    _tenant, next_url = codes_tenant
    make_user("dora@example.org", password=PASSWORD)
    answers = []
    for email in ("dora@example.org", "nobody@example.org"):
        response = Browser().post(
            reverse("account_login"), {"login": email, "password": "wrong guess", "next": next_url}
        )
        answers.append((response.status_code, alert_of(response)))
    assert answers[0] == answers[1] and "not correct" in answers[0][1]


def test_password_reset_answers_the_same_for_known_and_unknown_accounts(codes_tenant, make_user):
    make_user("dora@example.org", password=PASSWORD)
    EmailAddress.objects.create(
        user=User.objects.get(email="dora@example.org"), email="dora@example.org", verified=True, primary=True
    )
    answers = []
    for email in ("dora@example.org", "nobody@example.org"):
        response = Browser().post(reverse("account_reset_password"), {"email": email})
        answers.append((response.status_code, response.get("Location")))
    assert answers[0] == answers[1]
    assert len(mail.outbox) == 2  # a reset link to Dora, a "no account here" note to the other


def test_signup_answers_the_same_for_a_taken_and_a_free_address(codes_tenant, make_user):
    make_user("dora@example.org", password=PASSWORD)
    answers = []
    for email in ("dora@example.org", "nobody@example.org"):
        response = Browser().post(reverse("account_signup"), {"email": email, "password1": PASSWORD + " x"})
        answers.append((response.status_code, response.get("Location")))
    assert answers[0] == answers[1] and answers[0][0] == 302


# --- Limits: reached, and released when the window passes ---------------------------------


def test_code_requests_per_address_are_limited_and_released(codes_tenant, make_user, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code_client": "3/2s/key"}
    make_user("dora@example.org")
    for _ in range(3):
        assert request_code(Browser(), next_url, email="dora@example.org").status_code == 302
    response = request_code(Browser(), next_url, email="dora@example.org")
    assert response.status_code == 200 and "Too many" in alert_of(response)
    assert len(mail.outbox) == 3
    # Another address is not held up by Dora's limit.
    assert request_code(Browser(), next_url, email="someone@example.org").status_code == 302
    time.sleep(2.1)  # the window passes: no lasting lockout
    assert request_code(Browser(), next_url, email="dora@example.org").status_code == 302


STRANGER, DORAS_PHONE_NETWORK = "203.0.113.66", "198.51.100.7"


def test_a_stranger_asking_for_someones_codes_spends_only_their_own_budget(codes_tenant, make_user, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code_client": "3/m/key"}
    make_user("dora@example.org")
    stranger = Browser(REMOTE_ADDR=STRANGER)
    for _ in range(3):
        assert request_code(stranger, next_url, email="dora@example.org").status_code == 302
    response = request_code(stranger, next_url, email="dora@example.org")
    assert response.status_code == 200 and "Too many" in alert_of(response)
    assert len(mail.outbox) == 3

    # Dora, elsewhere, still gets a code and signs in with it.
    dora = Browser(REMOTE_ADDR=DORAS_PHONE_NETWORK)
    response = request_code(dora, next_url, email="dora@example.org")
    assert response.status_code == 302 and response.url.startswith(CONFIRM)
    assert len(mail.outbox) == 4
    assert enter_code(dora, next_url, last_code(mail.outbox[-1].body)).url == next_url


def test_a_limited_code_request_answers_the_same_for_known_and_unknown_addresses(codes_tenant, make_user, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code_client": "1/m/key"}
    make_user("dora@example.org")
    answers = []
    for email in ("dora@example.org", "nobody@example.org"):
        stranger = Browser(REMOTE_ADDR=STRANGER)
        request_code(stranger, next_url, email=email)
        response = request_code(stranger, next_url, email=email)
        answers.append((response.status_code, _without_tokens(response.content.decode())))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200 and "Too many failed login attempts" in answers[0][1]


def test_the_per_address_ceiling_holds_across_clients(codes_tenant, make_user, settings, sms_outbox):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "request_login_code_client": "3/m/key",
        "request_login_code_address": "5/m/key",
    }
    make_user(phone_number="+4915123456789")
    for client in range(5):
        browser = Browser(REMOTE_ADDR=f"192.0.2.{client + 1}")
        assert request_code(browser, next_url, channel="sms", phone="+4915123456789").status_code == 302
    response = request_code(Browser(REMOTE_ADDR="192.0.2.99"), next_url, channel="sms", phone="+4915123456789")
    assert response.status_code == 200 and "Too many" in alert_of(response)
    assert len(texts(sms_outbox)) == 5
    # The ceiling is the address's: another number from the same client is not held up.
    response = request_code(Browser(REMOTE_ADDR="192.0.2.99"), next_url, channel="sms", phone="+4915100000000")
    assert response.status_code == 302 and len(texts(sms_outbox)) == 6


def test_the_owners_retries_while_the_ceiling_holds_do_not_spend_their_own_budget(codes_tenant, make_user, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "request_login_code_client": "2/m/key",
        "request_login_code_address": "3/2s/key",
    }
    make_user("dora@example.org")
    for client in range(3):  # strangers from three networks reach the address's ceiling
        assert request_code(Browser(REMOTE_ADDR=f"192.0.2.{client + 1}"), next_url, email="dora@example.org").url
    dora = Browser(REMOTE_ADDR=DORAS_PHONE_NETWORK)
    for _ in range(3):
        response = request_code(dora, next_url, email="dora@example.org")
        assert response.status_code == 200 and "Too many" in alert_of(response)
    time.sleep(2.1)  # the ceiling frees: Dora's refused tries cost her nothing
    response = request_code(dora, next_url, email="dora@example.org")
    assert response.status_code == 302 and response.url.startswith(CONFIRM)


def test_behind_proxies_the_client_is_the_forwarded_address(codes_tenant, make_user, settings):
    """TRUSTED_PROXY_COUNT: every caller arrives from the balancer; X-Forwarded-For says who."""
    _tenant, next_url = codes_tenant
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code_client": "1/m/key"}
    make_user("dora@example.org")
    balancer = "10.0.0.5"
    stranger = Browser(REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR=STRANGER)
    assert request_code(stranger, next_url, email="dora@example.org").status_code == 302
    assert "Too many" in alert_of(request_code(stranger, next_url, email="dora@example.org"))
    dora = Browser(REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR=DORAS_PHONE_NETWORK)
    assert request_code(dora, next_url, email="dora@example.org").status_code == 302


def test_a_forwarded_for_shorter_than_the_proxy_count_is_no_500(codes_tenant, make_user, settings):
    """A caller who reached the hub around its balancer is counted by the peer address."""
    _tenant, next_url = codes_tenant
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code_client": "1/m/key"}
    make_user("dora@example.org")
    stranger = Browser(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert request_code(stranger, next_url, email="dora@example.org").status_code == 302
    # Counted by the peer: another claimed address from it buys nothing.
    other_claim = Browser(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert "Too many" in alert_of(request_code(other_claim, next_url, email="dora@example.org"))


def test_malformed_requests_count_toward_the_ip_limit(codes_tenant, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code": "3/m/ip"}
    browser = Browser()
    for attempt in range(3):
        response = request_code(browser, next_url, email=f"bad-{attempt}")
        assert "Too many" not in alert_of(response)
    response = request_code(browser, next_url, email="fine@example.org")
    assert "Too many" in alert_of(response) and mail.outbox == []


def test_code_entries_per_ip_are_limited(codes_tenant, make_user, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "confirm_login_code": "1/m/ip"}
    make_user("dora@example.org")
    browser = Browser()
    request_code(browser, next_url, email="dora@example.org")
    code = last_code(mail.outbox[0].body)
    response = enter_code(browser, next_url, "000000" if code != "000000" else "111111")
    assert "Incorrect code" in alert_of(response)
    response = enter_code(browser, next_url, code)  # right, but one try too many from here
    assert response.status_code == 200 and "Too many" in alert_of(response)


def test_failed_passwords_per_account_are_limited_and_released(codes_tenant, make_user, settings):
    _tenant, next_url = codes_tenant
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "100/m/ip,3/2s/key"}
    make_user("dora@example.org", password=PASSWORD)
    EmailAddress.objects.create(
        user=User.objects.get(email="dora@example.org"), email="dora@example.org", verified=True, primary=True
    )
    login = reverse("account_login")
    for _ in range(3):
        response = Browser().post(login, {"login": "dora@example.org", "password": "wrong guess", "next": next_url})
        assert "not correct" in alert_of(response)
    response = Browser().post(login, {"login": "dora@example.org", "password": PASSWORD, "next": next_url})
    assert response.status_code == 200 and "Too many failed login attempts" in alert_of(response)
    # Meanwhile Dora can still sign in by code: the password limit locks nothing else.
    browser = Browser()
    request_code(browser, next_url, email="dora@example.org")
    assert enter_code(browser, next_url, last_code(mail.outbox[-1].body)).url == next_url
    time.sleep(2.1)
    response = Browser().post(login, {"login": "dora@example.org", "password": PASSWORD, "next": next_url})
    assert response.status_code == 302 and response.url == next_url
