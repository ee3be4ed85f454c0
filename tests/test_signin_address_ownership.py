"""A code proves an address, and opens only an account on which that address is verified
(docs/decisions/0033; the defect was found by a bug hunt of session 6). An account that
only claimed the address loses the claim and keeps the rest; the prover gets an account of
their own. Guests claim nothing on allauth's account pages: they are sent to register."""

import re
from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User
from accounts.services import user_push
from consents.models import Consent
from events.models import Event
from tests import test_signin_policy
from tests.conftest import SYSTEM
from tests.test_signin_policy import (
    PASSWORD,
    authorize_path,
    configure,
)

alice = test_signin_policy.alice  # the fixture: Alice with a password and a verified address

STRANGERS_PASSWORD = "the strangers passphrase 42"
CODE_REQUEST = reverse("account_request_login_code")
CODE_CONFIRM = reverse("account_confirm_login_code")


def _code_of(text: str) -> str:
    return re.findall(r"\b(\d{6})\b", text)[-1]


def email_code_sign_in(browser: Client, email: str, target: str):
    browser.post(CODE_REQUEST, {"channel": "email", "email": email, "next": target})
    return browser.post(CODE_CONFIRM, {"code": _code_of(mail.outbox[-1].body), "action": "verify", "next": target})


def password_sign_in(browser: Client, email: str, password: str, target: str = ""):
    return browser.post("/accounts/login/", {"login": email, "password": password, "next": target})


def signed_in_user(browser: Client) -> User | None:
    user_id = browser.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def holds_verified(user: User, email: str) -> bool:
    return EmailAddress.objects.filter(user=user, email=email, verified=True).exists()


# --- The address's owner signs in by code ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_code_sign_in_to_a_verified_address_lands_on_its_account(world, alice):
    target = authorize_path(world.acme.app)
    users_before = User.objects.count()

    browser = Client()
    answer = email_code_sign_in(browser, alice.email, target)

    assert answer.status_code == 302 and answer.url == target
    assert signed_in_user(browser) == alice and User.objects.count() == users_before
    alice.refresh_from_db()
    assert alice.has_usable_password() and holds_verified(alice, alice.email)


@pytest.mark.django_db(transaction=True)
def test_an_account_a_tenant_pushed_opens_to_its_addresss_code(world):
    """Nobody could open it without the address: it is that address's account, and the code
    proves the address on it (a tenant's users sign in to what the tenant pushed)."""
    pushed, _created, _changed = user_push(
        actor=SYSTEM, tenant=world.acme.tenant, profile={"email": "pushed@example.org", "given_name": "Pia"}
    )
    target = authorize_path(world.acme.app)
    browser = Client()

    answer = email_code_sign_in(browser, "pushed@example.org", target)

    assert answer.status_code == 302 and answer.url == target
    assert signed_in_user(browser) == pushed
    pushed.refresh_from_db()
    assert pushed.email_verified and pushed.given_name == "Pia"


# --- An account that only claimed the address --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_owners_code_sign_in_removes_the_password_a_stranger_set_without_proving_the_address(world):
    """Pre-account takeover: a stranger signs up with the victim's address and a password of
    their own, unusable while the address is unverified. The address alone names that account,
    so nobody has ever been in it: the victim's code opens it, without the stranger's
    password, and the stranger's password opens nothing from then on."""
    target = authorize_path(world.acme.app)
    stranger = Client()
    stranger.post("/accounts/signup/", {"email": "victim@example.org", "password1": STRANGERS_PASSWORD})
    answer = password_sign_in(stranger, "victim@example.org", STRANGERS_PASSWORD)
    assert answer["Location"].startswith("/accounts/confirm-email/")  # not yet: the address is unverified

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", target)
    assert answer.status_code == 302 and answer.url == target  # the victim is in
    account = signed_in_user(victim)
    assert account.email == "victim@example.org" and account.email_verified
    assert not account.has_usable_password()

    stranger = Client()
    answer = password_sign_in(stranger, "victim@example.org", STRANGERS_PASSWORD, target)
    assert answer.status_code == 200 and "_auth_user_id" not in stranger.session


@pytest.mark.django_db(transaction=True)
def test_a_code_for_an_address_another_account_only_claims_signs_up_a_new_account(world, make_user):
    """A signed-in stranger adds the victim's address to their own account (/accounts/email/,
    unverified). The victim, new here, signs up by code: a new account of their own, with the
    address verified; the stranger's account loses the claim and keeps the rest."""
    target = authorize_path(world.acme.app)
    mallory = make_user("mallory@example.org", password=PASSWORD, given_name="Mallory")
    EmailAddress.objects.create(user=mallory, email=mallory.email, verified=True, primary=True)
    stranger = Client()
    password_sign_in(stranger, "mallory@example.org", PASSWORD)
    stranger.post("/accounts/email/", {"action_add": "", "email": "victim@example.org"})
    assert EmailAddress.objects.filter(user=mallory, email="victim@example.org", verified=False).exists()

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", target)

    assert answer.status_code == 302 and answer.url == target
    account = signed_in_user(victim)
    assert account != mallory and account.email == "victim@example.org" and account.email_verified
    assert holds_verified(account, "victim@example.org") and not account.has_usable_password()
    assert Membership.all_tenants.filter(user=account, tenant=world.acme.tenant).exists()  # a code sign-up's
    mallory.refresh_from_db()
    assert list(EmailAddress.objects.filter(user=mallory).values_list("email", flat=True)) == ["mallory@example.org"]
    assert mallory.email == "mallory@example.org" and mallory.given_name == "Mallory"
    assert signed_in_user(stranger) == mallory  # her session goes on
    again = Client()
    password_sign_in(again, "mallory@example.org", PASSWORD)
    assert signed_in_user(again) == mallory


@pytest.mark.django_db(transaction=True)
def test_a_phone_number_a_tenant_pushed_unverified_gives_its_holder_their_own_account(
    world, alice, make_tenant, make_client, settings, tmp_path
):
    """Alice has a password, a verified address, a name and a consent. Acme's system pushes a
    phone number for her, unverified (a typo, or a number she has since given up). Whoever
    holds that number signs in by SMS code to an account of their own; Alice's account loses
    the number, keeps everything else, and Acme hears that her phone number changed."""
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    user_push(actor=SYSTEM, tenant=world.acme.tenant, uuid=alice.uuid, profile={"phone_number": "+4915199999999"})
    alice.refresh_from_db()
    assert alice.phone_number == "+4915199999999" and not alice.phone_number_verified
    consents_before = list(Consent.all_tenants.filter(user=alice).values_list("pk", "state"))
    memberships_before = set(Membership.all_tenants.filter(user=alice).values_list("pk", flat=True))
    pushed_at = timezone.now()

    texts_tenant = make_tenant("texts", config={"login_methods": ["sms_code"], "otp": {"channels": ["sms"]}})
    texts_app, _ = make_client(texts_tenant, public=True)
    target = authorize_path(texts_app)
    holder = Client()
    holder.post(CODE_REQUEST, {"channel": "sms", "phone": "+4915199999999", "next": target})
    [text] = [path.read_text() for path in (tmp_path / "sms").glob("*.txt")]
    answer = holder.post(CODE_CONFIRM, {"code": _code_of(text), "action": "verify", "next": target})

    assert answer.status_code == 302 and answer.url == target
    account = signed_in_user(holder)
    assert account != alice and account.phone_number == "+4915199999999" and account.phone_number_verified
    assert account.email is None and Membership.all_tenants.filter(user=account, tenant=texts_tenant).exists()
    alice.refresh_from_db()
    assert alice.phone_number is None and not alice.phone_number_verified
    assert alice.email == "alice@example.org" and holds_verified(alice, alice.email)
    assert alice.given_name == "Alice" and alice.address_country == "DE" and alice.is_active
    assert list(Consent.all_tenants.filter(user=alice).values_list("pk", "state")) == consents_before
    assert set(Membership.all_tenants.filter(user=alice).values_list("pk", flat=True)) == memberships_before
    told = Event.all_tenants.filter(tenant=world.acme.tenant, type="user.updated", subject=str(alice.uuid))
    assert told.filter(created_at__gte=pushed_at, payload__changed=["phone_number"]).exists()
    browser = Client()
    password_sign_in(browser, alice.email, PASSWORD)
    assert signed_in_user(browser) == alice


# --- Guests ------------------------------------------------------------------------------------

GUEST_CLOSED_PAGES = [
    "account_email",
    "account_set_password",
    "account_change_password",
    "mfa_index",
    "mfa_activate_totp",
    "socialaccount_connections",
]


def _guest(world) -> Client:
    configure(world.acme.tenant, login_methods=["password", "email_code", "guest"])
    browser = Client()
    browser.post("/accounts/guest/", {"next": authorize_path(world.acme.app)})
    assert signed_in_user(browser).is_guest
    return browser


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", GUEST_CLOSED_PAGES)
def test_a_guest_is_sent_to_register_from_the_pages_that_claim_an_address_or_a_credential(world, page):
    browser = _guest(world)

    answer = browser.get(reverse(page))

    assert answer.status_code == 302 and answer["Location"].startswith(reverse("account_signup") + "?next=")
    assert "_auth_user_id" not in browser.session  # the guest session gave way; the device cookie stays
    assert browser.cookies["hm_guest"].value


@pytest.mark.django_db(transaction=True)
def test_a_registered_user_still_manages_addresses_and_passwords(world, alice):
    browser = Client()
    password_sign_in(browser, alice.email, PASSWORD)

    assert browser.get(reverse("account_email")).status_code == 200
    assert browser.get(reverse("account_change_password")).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_guest_claims_no_address_and_no_password_and_the_owners_code_sign_up_gets_a_new_account(world):
    """ "Continue as guest", then allauth's account pages: adding the victim's address and
    setting a password is refused (the guest is sent to register, nothing is saved). The
    victim, new here, signs up by code to an account of their own."""
    target = authorize_path(world.acme.app)
    stranger = _guest(world)
    guest = signed_in_user(stranger)

    answer = stranger.post("/accounts/email/", {"action_add": "", "email": "victim@example.org"})
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("account_signup"))
    stranger.post("/accounts/guest/", {"next": target})  # the same device's guest again
    assert signed_in_user(stranger) == guest
    passwords = {"password1": STRANGERS_PASSWORD, "password2": STRANGERS_PASSWORD}
    answer = stranger.post("/accounts/password/set/", passwords)
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("account_signup"))
    guest.refresh_from_db()
    assert not EmailAddress.objects.filter(user=guest).exists() and not guest.has_usable_password()

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", target)
    assert answer.status_code == 302 and answer.url == target
    account = signed_in_user(victim)
    assert not account.is_guest and account.email == "victim@example.org" and account.email_verified


@pytest.mark.django_db(transaction=True)
def test_an_address_a_guest_claimed_before_the_pages_closed_goes_to_whoever_proves_it(world):
    """A guest that holds an address from before: the owner's code sign-up is a new account;
    the guest loses the claim and stays the device's guest."""
    target = authorize_path(world.acme.app)
    stranger = _guest(world)
    guest = signed_in_user(stranger)
    User.objects.filter(pk=guest.pk).update(email="victim@example.org")
    EmailAddress.objects.create(user=guest, email="victim@example.org", verified=False, primary=True)

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", target)

    assert answer.status_code == 302 and answer.url == target
    account = signed_in_user(victim)
    assert account != guest and not account.is_guest and holds_verified(account, "victim@example.org")
    guest.refresh_from_db()
    assert guest.email is None and not EmailAddress.objects.filter(user=guest).exists()
    assert guest.is_guest and guest.guest_device_hash and guest.is_active


@pytest.mark.django_db(transaction=True)
def test_a_guest_connects_no_provider_but_may_still_sign_in_with_one(world):
    """Connecting a provider to the signed-in guest is a claim too; signing in with it is not."""
    from tests.test_signin_social import GOOGLE_APP, social_app

    social_app(GOOGLE_APP, "google", tenants=[world.acme.tenant.slug])
    browser = _guest(world)
    configure(
        world.acme.tenant,
        login_methods=["password", "guest", "google"],
        social_providers=[{"provider": "google", "client_id": GOOGLE_APP.client_id}],
    )
    target = authorize_path(world.acme.app)

    sign_in = browser.post("/accounts/google/login/?" + urlencode({"process": "login", "next": target}))
    assert sign_in.status_code == 302 and sign_in["Location"].startswith("https://accounts.google.com/")
    connect = browser.post("/accounts/google/login/?" + urlencode({"process": "connect", "next": target}))
    assert connect.status_code == 302 and connect["Location"].startswith(reverse("account_signup") + "?next=")
    assert "_auth_user_id" not in browser.session
