"""Every way to sign up leaves what ``user_register`` leaves: the new user belongs to the
tenant whose sign-in made it, and that tenant (and no other) hears one ``user.created``.

Driven through the hub's pages as the sign-in tests drive them: the password sign-up form,
a code requested for a new address, and a first sign-in with Google (answers recorded).
"""

import pytest
from django.core import mail
from django.test import Client as Browser

from accounts.models import Membership, User
from events.models import Event
from tests.browser.recorded.providers import Person
from tests.test_signin_codes import enter_code, last_code, request_code
from tests.test_signin_policy import PASSWORD, authorize_path
from tests.test_signin_social import (
    GOOGLE_APP,
    acme_enables_google_and_facebook,  # noqa: F401 (a fixture)
    google,
    recorded,  # noqa: F401 (a fixture)
    sign_in_with,
    social_app,
)
from tests.test_signin_social import authorize_path as social_authorize_path

# allauth's sign-up and sign-in run their own transactions; the code tests' pages expect it.
pytestmark = pytest.mark.django_db(transaction=True)


def created_events(user: User) -> list[tuple[str, str]]:
    events = Event.all_tenants.filter(type="user.created", subject=str(user.uuid))
    return [(event.tenant.slug, event.payload["user"]) for event in events]


def memberships(user: User) -> list[tuple[str, str]]:
    return [(m.tenant.slug, m.source) for m in Membership.all_tenants.filter(user=user).select_related("tenant")]


def test_a_password_sign_up_joins_the_tenant_served_and_tells_it_once(world):
    target = authorize_path(world.acme.app)
    browser = Browser()
    browser.get(target, follow=True)

    answer = browser.post("/accounts/signup/", {"email": "newcomer@example.org", "password1": PASSWORD, "next": target})

    assert answer.status_code == 302
    user = User.objects.get(email="newcomer@example.org")
    assert created_events(user) == [("acme", str(user.uuid))]
    assert memberships(user) == [("acme", Membership.Source.SIGN_IN)]


def test_a_password_sign_up_on_the_hubs_own_page_tells_no_tenant(world):
    answer = Browser().post("/accounts/signup/", {"email": "walkin@example.org", "password1": PASSWORD})

    assert answer.status_code == 302
    user = User.objects.get(email="walkin@example.org")
    assert created_events(user) == [] and memberships(user) == []


def test_a_code_sign_up_joins_the_tenant_served_and_tells_it_once(world):
    from tenants.services import tenant_config_update
    from tests.conftest import SYSTEM

    config = {"login_methods": ["password", "email_code"], "otp": {"channels": ["email"]}}
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    target = authorize_path(world.acme.app)
    browser = Browser()

    request_code(browser, target, email="coder@example.org")
    user = User.objects.get(email="coder@example.org")
    assert created_events(user) == [("acme", str(user.uuid))]
    assert memberships(user) == [("acme", Membership.Source.SIGN_IN)]

    request_code(Browser(), target, email="coder@example.org")  # asked again: nobody hears twice
    enter_code(browser, target, last_code(mail.outbox[0].body))
    assert created_events(user) == [("acme", str(user.uuid))]
    assert memberships(user) == [("acme", Membership.Source.SIGN_IN)]


def test_a_first_google_sign_in_joins_the_tenant_served_and_tells_it_once(
    client,
    acme_enables_google_and_facebook,  # noqa: F811
    recorded,  # noqa: F811
):
    world = acme_enables_google_and_facebook
    social_app(GOOGLE_APP, "google", tenants=["acme", "bolt"])
    person = Person(sub="110169484474386276335", email="gabe@gmail.com")

    answer = sign_in_with(client, google(person), world.acme.app, recorded)

    assert answer.status_code == 302 and answer["Location"] == social_authorize_path(world.acme.app)
    user = User.objects.get(email="gabe@gmail.com")
    assert created_events(user) == [("acme", str(user.uuid))]
    assert memberships(user) == [("acme", Membership.Source.SIGN_IN)]
