"""A forgotten password, reset in a real browser with JavaScript switched off, from a
tenant app's sign-in and back to it: the link comes by mail from the worker (tasks run
eagerly after the live server's commit), the pages wear the tenant's name throughout."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from playwright.sync_api import Page, Route, expect

from tenants.services import tenant_config_update
from tests.conftest import SYSTEM

from .conftest import APP_ORIGINS, sign_in_on_the_page
from .test_sign_in import arrive_at

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "another long and unusual passphrase"


@pytest.fixture
def page_without_js(browser_context, app_pages) -> Page:
    context = browser_context.browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)

    def answer_as_the_app(route: Route) -> None:
        body = app_pages.get(urlsplit(route.request.url).netloc, "<h1>The app</h1>")
        route.fulfill(status=200, content_type="text/html", body=f"<!DOCTYPE html><title>App</title>{body}")

    context.route(APP_ORIGINS, answer_as_the_app)
    yield context.new_page()
    context.close()


def test_a_forgotten_password_is_reset_without_javascript_and_the_app_signs_in(
    page_without_js, world, tenant_app, dora
):
    page = page_without_js
    branding = {"branding": {"display_name": "Acme Daily"}}
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=branding, partial=True)
    acme = tenant_app(world.acme.tenant, "app.acme.example")
    acme.start_sign_in(page)

    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    expect(page.get_by_text("account for Acme Daily")).to_be_visible()
    page.get_by_label("Email").fill(dora.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("we have sent it a link")  # back at Acme's sign-in

    [message] = mail.outbox
    assert message.to == [dora.email] and "Acme Daily" in message.subject
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", message.body).group(0)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label(re.compile(r"^New Password:?$")).fill(NEW_PASSWORD)
    page.get_by_label("New Password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Acme app")
    sign_in_on_the_page(page, dora.email, NEW_PASSWORD)
    answer = arrive_at(page, acme)
    assert answer["state"] == acme.state
    _token, id_token = acme.finish(page.url)
    assert id_token["sub"] == str(dora.uuid)
