"""A code proves an address, and opens only an account on which that address is verified
(docs/decisions/0033; the defect was found by a bug hunt of session 6). An account that
only claimed the address loses the claim and keeps the rest; the prover gets an account of
their own. Guests claim nothing on allauth's account pages: they are sent to register."""

import re
from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User
from accounts.services import user_push, user_register
from accounts.signin.guest import ACCOUNT_PAGES_CLOSED_TO_GUESTS
from accounts.signin.services import signin_code_account_settle, signin_code_address_verified
from consents.models import Consent
from events.models import Event
from tests import test_signin_policy
from tests.conftest import SYSTEM
from tests.oidc.test_backchannel_logout import receiver  # noqa: F401 (a fixture)
from tests.oidc.test_claims_parameter import payload_of, sign_in_with
from tests.oidc.test_refresh_rotation import refresh, refused
from tests.oidc.test_refresh_signout_race import backend_running, in_thread, result_of, wait_until
from tests.test_signin_policy import (
    PASSWORD,
    authorize_path,
    configure,
    signed_in,
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


def still_signed_in(browser: Client) -> bool:
    """The session opens a page that needs a signed-in user (its hash still matches)."""
    return browser.get(reverse("account_email")).status_code == 200


def revocations(user: User, tenant) -> list[tuple[list[str], str]]:
    told = Event.all_tenants.filter(tenant=tenant, type="user.credentials_revoked", subject=str(user.uuid))
    return [(event.payload["revoked"], event.payload["reason"]) for event in told]


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
    assert still_signed_in(victim)  # signed in with the hash of the password-less account

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
    """Alice has a password, a verified address, a name and a consent, and an unverified
    phone number on her account (a typo, or a number she has since given up; a tenant's push
    could add one before decision 35). Whoever holds that number signs in by SMS code to an
    account of their own; Alice's account loses the number, keeps everything else, and Acme
    hears that her phone number changed."""
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    User.objects.filter(pk=alice.pk).update(phone_number="+4915199999999", phone_number_verified=False)
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


# --- Someone was in the account the code opens --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_whoever_was_in_the_addresss_account_is_signed_out_everywhere_and_its_apps_are_told(
    world,
    receiver,  # noqa: F811 (the fixture imported above)
):
    """The address is all that names the account, but someone got in without proving it (a
    provider that vouched for nothing, say) and holds a hub session and an app's tokens. The
    owner's code opens the account: the password goes, the stranger's session and refresh
    token stop working, the app gets a logout token (with no OIDC_ISSUER set, the issuer is
    the request's), and the tenant hears what went."""
    listening = receiver(200)
    app = world.acme.app
    app.backchannel_logout_uri = listening.url
    app.save(update_fields=["backchannel_logout_uri"])
    stranger = Client()
    stranger.post("/accounts/signup/", {"email": "victim@example.org", "password1": STRANGERS_PASSWORD})
    account = User.objects.get(email="victim@example.org")
    tokens = sign_in_with(stranger, app, account)
    assert still_signed_in(stranger)

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", authorize_path(app))

    assert answer.status_code == 302 and signed_in_user(victim) == account
    assert still_signed_in(victim)  # the victim's session carries the account's new hash
    assert not still_signed_in(stranger)
    assert refused(refresh(Client(), app, tokens["refresh_token"]))
    [logout_token] = listening.logout_tokens
    claims = payload_of(logout_token)
    assert claims["iss"].startswith("http://testserver") and claims["sub"] == str(account.uuid)
    assert revocations(account, world.acme.tenant) == [(["password", "sessions"], "address_proven")]


@pytest.mark.django_db(transaction=True)
def test_someone_in_the_addresss_account_is_signed_out_though_nothing_else_is_removed(world):
    """An account a tenant pushed, with no password, provider or authenticator, that someone
    has nonetheless been in: the owner's code ends that session all the same."""
    pushed, _created, _changed = user_push(
        actor=SYSTEM, tenant=world.acme.tenant, profile={"email": "pushed@example.org"}
    )
    stranger = Client()
    signed_in(stranger, pushed, {"method": "password", "email": "pushed@example.org"})
    assert still_signed_in(stranger)

    owner = Client()
    answer = email_code_sign_in(owner, "pushed@example.org", authorize_path(world.acme.app))

    assert answer.status_code == 302 and signed_in_user(owner) == pushed and still_signed_in(owner)
    assert not still_signed_in(stranger)
    assert revocations(pushed, world.acme.tenant) == [(["sessions"], "address_proven")]


@pytest.mark.django_db(transaction=True)
def test_a_claimant_named_by_the_address_is_named_by_its_verified_second_address_from_then_on(world, make_user):
    """Mallory's account is named by the victim's address, unverified, but she signs in by a
    second address she did verify. The victim's code sign-up gets an account of its own;
    Mallory's second address becomes her email, verified, and her password still opens it."""
    mallory = make_user("victim@example.org", password=PASSWORD, given_name="Mallory")
    Membership.all_tenants.create(user=mallory, tenant=world.acme.tenant, source=Membership.Source.SIGN_IN)
    EmailAddress.objects.create(user=mallory, email="victim@example.org", verified=False, primary=True)
    EmailAddress.objects.create(user=mallory, email="mallory@example.org", verified=True, primary=False)
    User.objects.filter(pk=mallory.pk).update(last_login=timezone.now())

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", authorize_path(world.acme.app))

    assert answer.status_code == 302
    account = signed_in_user(victim)
    assert account != mallory and account.email == "victim@example.org" and account.email_verified
    mallory.refresh_from_db()
    assert mallory.email == "mallory@example.org" and mallory.email_verified and mallory.given_name == "Mallory"
    assert list(EmailAddress.objects.filter(user=mallory).values_list("email", "verified", "primary")) == [
        ("mallory@example.org", True, True)
    ]
    told = Event.all_tenants.filter(tenant=world.acme.tenant, type="user.updated", subject=str(mallory.uuid))
    assert told.filter(payload__changed=["email", "email_verified"]).exists()
    assert revocations(mallory, world.acme.tenant) == [(["email"], "address_proven_elsewhere")]
    again = Client()
    password_sign_in(again, "mallory@example.org", PASSWORD)
    assert signed_in_user(again) == mallory


# --- Deactivated accounts ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_account_that_only_claims_the_address_does_not_keep_its_owner_out(world, make_user):
    """Staff deactivated an account that claims the victim's address, unverified, and has a
    phone number besides. The victim's code is sent and signs up an account of their own;
    the deactivated account loses the claim, keeps its number and stays deactivated."""
    claimant = make_user("victim@example.org", phone_number="+4915100000001", given_name="Mallory")
    Membership.all_tenants.create(user=claimant, tenant=world.acme.tenant, source=Membership.Source.SIGN_IN)
    User.objects.filter(pk=claimant.pk).update(is_active=False)
    target = authorize_path(world.acme.app)

    victim = Client()
    answer = email_code_sign_in(victim, "victim@example.org", target)

    assert answer.status_code == 302 and answer.url == target
    account = signed_in_user(victim)
    assert account != claimant and account.email == "victim@example.org" and account.email_verified
    claimant.refresh_from_db()
    assert claimant.email is None and claimant.phone_number == "+4915100000001" and not claimant.is_active
    assert revocations(claimant, world.acme.tenant) == [(["email"], "address_proven_elsewhere")]


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_account_the_address_is_verified_on_is_still_refused(world, make_user):
    owner = make_user("owner@example.org", email_verified=True)
    EmailAddress.objects.create(user=owner, email="owner@example.org", verified=True, primary=True)
    User.objects.filter(pk=owner.pk).update(is_active=False)
    users_before = User.objects.count()

    browser = Client()
    browser.post(CODE_REQUEST, {"channel": "email", "email": "owner@example.org", "next": ""})

    assert not re.findall(r"\b\d{6}\b", mail.outbox[-1].body)  # no code: the unknown-account mail
    assert signin_code_account_settle(email="owner@example.org", tenant=world.acme.tenant) is None
    assert User.objects.count() == users_before and "_auth_user_id" not in browser.session


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_account_the_address_alone_names_is_still_refused(world):
    """A registered account keeps an identifier, so the claim cannot go from an account it is
    all that names: deactivated, that account keeps the address (docs/decisions/0033)."""
    named = user_register(actor=SYSTEM, email="named@example.org", tenant=world.acme.tenant)
    User.objects.filter(pk=named.pk).update(is_active=False)

    assert signin_code_account_settle(email="named@example.org", tenant=world.acme.tenant) is None
    named.refresh_from_db()
    assert named.email == "named@example.org" and not named.email_verified


# --- Two proofs of one new address at once -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_proof_that_races_another_to_a_new_address_opens_the_account_the_other_made(world):
    """Two browsers prove an address nobody holds. The second inserts its account while the
    first's, not yet committed, holds the address; once the first commits, the second's
    insert fails and it settles again, on the account the first made."""
    with transaction.atomic():
        first = user_register(actor=SYSTEM, email="race@example.org", tenant=world.acme.tenant)
        signin_code_address_verified(user=first, email="race@example.org")
        second = in_thread(lambda: signin_code_account_settle(email="race@example.org", tenant=world.acme.tenant))
        wait_until(lambda: backend_running('INSERT INTO "accounts_user"'), "the second proof waits on the address")

    assert result_of(*second) == first
    assert list(User.objects.filter(email="race@example.org")) == [first]


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


@pytest.mark.parametrize("page", sorted(ACCOUNT_PAGES_CLOSED_TO_GUESTS))
def test_every_page_closed_to_guests_is_a_route(page):
    """A misspelt or unrouted name would leave the page it meant open to guests."""
    arguments = {"pk": 1} if page in {"mfa_edit_webauthn", "mfa_remove_webauthn"} else {}
    assert reverse(page, kwargs=arguments)


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
