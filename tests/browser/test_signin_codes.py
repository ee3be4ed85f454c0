"""Sign-in by a code sent by email or SMS, in a real browser, through a tenant app's
OpenID Connect flow: the code is read from the mail outbox or the SMS outbox directory."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import User
from tenants.services import tenant_config_update
from tests.conftest import SYSTEM

from .test_sign_in import arrive_at

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sms_outbox(tmp_path, settings):
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    return settings.SMS_OUTBOX_DIR


def code_in(text: str, length: int) -> str:
    return re.findall(rf"\b(\d{{{length}}})\b", text)[-1]


def last_sms(outbox) -> str:
    files = sorted(outbox.glob("*.txt"))
    assert files, "no text message was sent"
    return files[-1].read_text()


def enter(page: Page, code: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your sign-in code")
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def ask_for_email_code(page: Page, email: str) -> None:
    page.get_by_role("button", name="Email me a sign-in code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Get a sign-in code by email")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send code").click()


def test_email_code_signs_in_through_the_apps_oidc_flow(page, world, tenant_app, dora):
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    ask_for_email_code(page, dora.email)
    expect(page.get_by_text(f"If {dora.email} can be used here")).to_be_visible()
    [message] = mail.outbox
    assert message.to == [dora.email] and "Acme" in message.subject

    enter(page, code_in(message.body, 6))
    answer = arrive_at(page, acme)
    assert answer["state"] == acme.state
    _token, id_token = acme.finish(page.url)
    assert id_token["sub"] == str(dora.uuid)
    assert id_token["amr"] == ["otp"]


def test_sms_code_signs_up_a_new_number_through_the_apps_oidc_flow(page, world, tenant_app, sms_outbox):
    tenant_config_update(
        actor=SYSTEM,
        tenant=world.acme.tenant,
        config={"login_methods": ["password", "sms_code"], "otp": {"channels": ["sms"], "length": 8}},
        partial=True,
    )
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    expect(page.get_by_role("button", name="Email me a sign-in code")).to_have_count(0)
    page.get_by_role("button", name="Text me a sign-in code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Get a sign-in code by text message")
    page.get_by_label("Mobile phone number").fill("+49 151 2345 6789")
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your sign-in code")
    text = last_sms(sms_outbox)
    assert text.startswith("To: +4915123456789")

    enter(page, code_in(text, 8))
    arrive_at(page, acme)
    _token, id_token = acme.finish(page.url)
    user = User.objects.get(phone_number="+4915123456789")
    assert id_token["sub"] == str(user.uuid) and user.phone_number_verified
    assert id_token["amr"] == ["otp", "sms"]


def test_a_code_length_change_applies_to_the_very_next_sign_in(page, world, tenant_app, dora):
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    ask_for_email_code(page, dora.email)
    assert re.search(r"^\d{6}$", mail.outbox[-1].body, re.M)

    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config={"otp": {"length": 4}}, partial=True)
    acme.start_sign_in(page)
    ask_for_email_code(page, dora.email)
    body = mail.outbox[-1].body
    assert re.search(r"^\d{4}$", body, re.M) and not re.search(r"^\d{6}$", body, re.M)
    enter(page, code_in(body, 4))
    arrive_at(page, acme)
    assert acme.finish(page.url)[1]["sub"] == str(dora.uuid)


def test_a_wrong_code_gets_a_message_and_the_right_one_still_works(page, world, tenant_app, dora):
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    ask_for_email_code(page, dora.email)
    code = code_in(mail.outbox[-1].body, 6)
    enter(page, "000000" if code != "000000" else "111111")
    expect(page.get_by_role("alert")).to_contain_text("Incorrect code")
    enter(page, code)
    arrive_at(page, acme)


def test_a_method_the_tenant_has_not_enabled_is_refused(page, world, tenant_app, dora, sms_outbox, live_server):
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)
    expect(page.get_by_role("button", name="Text me a sign-in code")).to_have_count(0)
    # Straight to the SMS page of this sign-in, by hand.
    page.goto(page.url.replace("/accounts/login/?", "/accounts/login/code/?channel=sms&"))
    expect(page.get_by_role("alert")).to_have_text("Acme does not offer sign-in with a code by text message.")
    expect(page.get_by_label("Mobile phone number")).to_have_count(0)
    assert not sms_outbox.exists() or not list(sms_outbox.glob("*.txt"))
