"""A consent a tenant reported for someone it never dealt with, confirmed by that person in
a real browser from the link in the mail (decision 35): the page wears the tenant's name,
shows what was agreed to, and changes nothing until a button is pressed."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.confirmations.services import consent_record_for_tenant
from accounts.models import User
from consents.models import Consent
from harbourmaster.actors import Actor
from tenants.services import tenant_config_update
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asked(world, live_server) -> str:
    """Bolt (shown as "Bolt Shop") says Alice, whom it never met, agreed to postal
    marketing: the link the hub mailed her."""
    tenant_config_update(
        actor=SYSTEM, tenant=world.bolt.tenant, config={"branding": {"display_name": "Bolt Shop"}}, partial=True
    )
    User.objects.filter(pk=world.alice.pk).update(email_verified=True)
    consent = consent_record_for_tenant(
        actor=Actor.client(world.bolt.backend),
        user=User.objects.get(pk=world.alice.pk),
        purpose=world.bolt.postal,
        action="grant",
        client=world.bolt.backend,
        hub_url=live_server.url,
        channel="api",
    )
    assert consent.state == "pending"
    (message,) = mail.outbox
    return re.search(r"(http://\S+/consents/confirm/\S+/)", message.body).group(1)


def state(world) -> str:
    return Consent.all_tenants.get(user=world.alice, purpose=world.bolt.postal).state


@pytest.mark.parametrize(("button", "heading", "then"), [("Yes, I agree", "Thank you", "granted"),
                                                         ("No, I did not agree", "Done", "withdrawn")])  # fmt: skip
def test_the_person_answers_the_tenants_word_on_the_page_the_link_opens(
    page: Page, world, asked, button, heading, then
):
    page.goto(asked)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your consent")
    expect(page.get_by_text("Bolt Shop says you agreed to “Postal Marketing”")).to_be_visible()
    expect(page.get_by_text(world.bolt.postal.versions.get().statement)).to_be_visible()
    assert state(world) == "pending"  # opening the link is no answer

    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert state(world) == then
    page.goto(asked)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Already confirmed" if then == "granted" else "Nothing to confirm"
    )
