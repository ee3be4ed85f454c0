"""A tenant that signs its users in only by SMS code, on a hub that sends no text messages
(``SMS_BACKEND=disabled``): its login page says so instead of showing nothing, and its
config cannot be set that way while text messages are off.

Driven through the real login page with Django's test client.
"""

import re
from urllib.parse import urlencode

import pytest
from django.test import Client as Browser
from django.urls import reverse

from tenants.config import config_errors

pytestmark = pytest.mark.django_db

SMS_ONLY = {"login_methods": ["sms_code"], "otp": {"channels": ["sms"]}}
UNAVAILABLE = "Sign-in by text message is not available at the moment. Please try again later or contact Harbour Texts."


@pytest.fixture
def sms_only_sign_in(make_tenant, make_client, settings) -> str:
    """The ``next`` of an SMS-only tenant's app, set up while the hub still sent text messages."""
    settings.SMS_BACKEND = "console"
    tenant = make_tenant("texts", config={**SMS_ONLY, "branding": {"display_name": "Harbour Texts"}})
    client, _ = make_client(tenant, public=True)
    return "/o/authorize/?" + urlencode({"client_id": client.client_id, "response_type": "code"})


def alert_of(html: str) -> str:
    found = re.search(r'role="alert">(.*?)</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()) if found else ""


def login_page(next_url: str, **headers) -> str:
    response = Browser().get(reverse("account_login"), {"next": next_url}, **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("disabled", ["disabled", "accounts.sms.backends.DisabledBackend"])
def test_with_text_messages_off_an_sms_only_tenants_page_says_sign_in_is_unavailable(
    sms_only_sign_in, settings, disabled
):
    settings.SMS_BACKEND = disabled
    page = login_page(sms_only_sign_in)
    assert alert_of(page) == UNAVAILABLE
    assert "<form" not in page and "<input" not in page and "<button" not in page
    assert "Create one" not in page  # an account made now could not sign in either


def test_the_message_is_in_german_for_german_readers(sms_only_sign_in, settings):
    settings.SMS_BACKEND = "disabled"
    page = login_page(sms_only_sign_in, HTTP_ACCEPT_LANGUAGE="de")
    assert alert_of(page) == (
        "Die Anmeldung per SMS ist im Moment nicht möglich. "
        "Bitte versuchen Sie es später noch einmal oder wenden Sie sich an Harbour Texts."
    )


def test_with_text_messages_on_the_same_page_offers_the_code(sms_only_sign_in):
    page = login_page(sms_only_sign_in)
    assert "Text me a sign-in code" in page
    assert alert_of(page) == ""


# --- The config: SMS codes alone are refused while text messages are off -----------------


def test_sms_codes_alone_are_refused_while_text_messages_are_off(settings):
    settings.SMS_BACKEND = "disabled"
    assert [(error.path, error.message) for error in config_errors(SMS_ONLY)] == [
        ("/login_methods", "offers only 'sms_code', but this hub sends no text messages at present: add another method")
    ]
    assert config_errors({"login_methods": ["sms_code", "email_code"], "otp": {"channels": ["sms", "email"]}}) == []


def test_sms_codes_alone_are_accepted_while_text_messages_go_out(settings):
    settings.SMS_BACKEND = "console"
    assert config_errors(SMS_ONLY) == []
