"""What a tenant's word may not do to a user it does not deal with (decision 35), as a
review of the first version found it could: open the account, plant an address, message
the user without end, test guesses; and the confirmation link's edges."""

import re
from datetime import timedelta
from importlib import import_module

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.models import Membership, User
from accounts.services import user_register
from accounts.signin.services import signin_code_account_settle
from consents.models import Consent
from tests.api.conftest import api_as, issue_token  # noqa: F401  (fixtures)
from tests.conftest import SYSTEM

LINK = re.compile(r"http://testserver(/consents/confirm/[^/\s]+/)")
PHONE = "+4915100000042"

# accounts/migrations/0009_membership_created_account.py
BACKFILL = import_module("accounts.migrations.0009_membership_created_account").BACKFILL


@pytest.fixture
def alice(world) -> User:
    """Alice proved her address and gave acme her consent: bolt has never dealt with her."""
    User.objects.filter(pk=world.alice.pk).update(email_verified=True)
    return User.objects.get(pk=world.alice.pk)


@pytest.fixture
def bolt(world, api_as, django_capture_on_commit_callbacks):  # noqa: F811
    """Bolt's system with every scope a tenant's backend can hold; its requests' commits run
    their callbacks (the messages they send)."""
    api = api_as(world.bolt.backend, ["tenant:admin", "consents:write", "users:read", "users:write"])

    class Bolt:
        capture = staticmethod(django_capture_on_commit_callbacks)

        def post(self, path, body):
            with django_capture_on_commit_callbacks(execute=True):
                return api.post(path, body, format="json")

        def grant(self, user, purpose="postal-marketing", **extra):
            body = {"user": user, "purpose": purpose, "action": "grant", "occurred_at": timezone.now().isoformat()}
            return self.post("/api/v1/consents", body | extra)

        def push(self, **body):
            response = self.post("/api/v1/users", body)
            assert response.status_code in (200, 201, 409), response.content
            return response

    return Bolt()


# --- Ways into an account ----------------------------------------------------------------


def test_a_phone_a_tenant_called_proven_on_its_own_account_does_not_open_it_once_its_owner_proved_it(world, bolt):
    """Bolt makes an account for Dora's address before she joins the hub and says that
    address and a phone of its own are proven (its own account takes its word). Dora's first
    code sign-in proves her address only: bolt's phone is a claim from then on, and whoever
    holds it gets an account of their own, not the one Dora uses."""
    made = bolt.push(email="dora@example.org", email_verified=True, phone_number=PHONE, phone_number_verified=True)
    assert made.status_code == 201, made.content
    dora = signin_code_account_settle(email="dora@example.org", tenant=world.acme.tenant)
    User.objects.filter(pk=dora.pk).update(last_login=timezone.now(), given_name="Dora", address_country="DE")

    phone_holder = signin_code_account_settle(phone=PHONE, tenant=world.bolt.tenant)
    assert phone_holder.pk != dora.pk


def test_a_password_sign_up_at_a_tenant_is_not_the_tenants_to_mark_proven(world, bolt):
    """Erin signs up at bolt's app with her address and a password of her own. The account
    is hers, not bolt's: bolt cannot plant a proven phone on it, and a code to that phone
    does not open it."""
    erin = user_register(
        actor=SYSTEM, email="erin@example.org", password="erins own secret 42", tenant=world.bolt.tenant
    )
    assert not Membership.all_tenants.get(user=erin, tenant=world.bolt.tenant).created_account
    bolt.push(uuid=str(erin.uuid), phone_number=PHONE, phone_number_verified=True)
    User.objects.filter(pk=erin.pk).update(email_verified=True, last_login=timezone.now())  # she confirms, signs in

    erin.refresh_from_db()
    assert not erin.phone_number_verified, "a tenant proved a phone on an account whose password its user set"
    assert signin_code_account_settle(phone=PHONE, tenant=world.bolt.tenant).pk != erin.pk


# --- First-hand without the user ---------------------------------------------------------


def test_the_backfill_makes_no_tenant_the_maker_of_an_account_the_user_made_at_the_hub(world, alice, bolt):
    """Before decision 35, Alice registered on the hub's own pages (no membership) and bolt
    later pushed her profile by her verified address (a membership, source api). Migration
    0009 does not take bolt for the maker of her account, so bolt's word waits for hers."""
    User.objects.filter(pk=alice.pk).update(date_joined=timezone.now() - timedelta(days=30))  # she joined long ago
    bolt.push(email="alice@example.org")
    Membership.all_tenants.update(created_account=False)  # the column as the migration finds it
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL)

    answer = bolt.grant({"email": "alice@example.org"})
    assert answer.json()["state"] == "pending", "bolt reads Alice's postal data on its own word"
    assert len(mail.outbox) == 1


# --- The confirmation link ---------------------------------------------------------------


def test_a_no_on_the_link_takes_effect_when_the_tenant_dated_its_word_a_little_ahead(world, alice, bolt, client):
    """consent_grant accepts a tenant's time up to five minutes ahead (clock skew). A user who
    answers within those minutes is answered after the tenant's word, so the "No" the page
    reports is what the consent says."""
    ahead = (timezone.now() + timedelta(minutes=3)).isoformat()
    assert bolt.grant({"email": "alice@example.org"}, occurred_at=ahead).json()["state"] == "pending"
    path = LINK.search(mail.outbox[0].body).group(1)

    answered = client.post(path, {"answer": "decline"})
    assert "Bolt will not use your data" in answered.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "withdrawn"


def test_yes_for_a_purpose_the_tenant_retired_since_is_no_server_error(world, alice, bolt, client):
    """The tenant retires the purpose while the question waits; the user's "Yes" then grants
    nothing, and the page says so instead of failing."""
    bolt.grant({"email": "alice@example.org"})
    path = LINK.search(mail.outbox[0].body).group(1)
    assert bolt.post("/api/v1/purposes/postal-marketing/retire", {}).status_code == 200

    client.raise_request_exception = False
    answered = client.post(path, {"answer": "confirm"})
    assert answered.status_code == 200 and "Nothing to confirm" in answered.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state != "granted"


def test_a_tenant_cannot_make_the_hub_message_one_stranger_without_end(world, alice, bolt):
    """A tenant publishes statements at will, and each is a new question: at most three a
    day reach one person, from all tenants together."""
    for number in range(2, 12):
        published = bolt.post("/api/v1/purposes/postal-marketing/versions", {"statement": f"Postal v{number}"})
        assert published.status_code == 201, published.content
        assert bolt.grant({"email": "alice@example.org"}).json()["state"] == "pending"
    to_alice = [message for message in mail.outbox if message.to == ["alice@example.org"]]
    assert len(to_alice) <= 3, f"bolt made the hub send {len(to_alice)} messages to someone it never met"


# --- What a stranger learns --------------------------------------------------------------


def test_a_stranger_cannot_test_its_guesses_of_a_users_phone_number(world, alice, bolt):
    """Bolt never dealt with Alice but knows her address. A push naming her address and a
    guessed phone number answers the same for a wrong guess and the right one."""
    User.objects.filter(pk=alice.pk).update(phone_number=PHONE)
    wrong = bolt.push(email="alice@example.org", phone_number="+4915100000043")
    right = bolt.push(email="alice@example.org", phone_number=PHONE)
    assert (wrong.status_code, wrong.json().get("changed")) == (right.status_code, right.json().get("changed")), (
        "the answers tell bolt which number is Alice's"
    )


RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)")


def test_an_address_a_stranger_wrote_into_a_profile_gap_is_no_way_into_the_account(world, bolt):
    """Phil signs in by his phone and has no e-mail address. Bolt, which never dealt with
    him, names him by that phone and sends an address of its own: the push leaves it out,
    and a password reset asked for that address mails no link."""
    from django.test import Client as Browser

    phil = User.objects.create(phone_number=PHONE, phone_number_verified=True, given_name="Phil")
    Membership.all_tenants.create(tenant=world.acme.tenant, user=phil, source=Membership.Source.SIGN_IN)
    User.objects.filter(pk=phil.pk).update(last_login=timezone.now())
    answer = bolt.push(phone_number=PHONE, email="mallory@evil.example")
    assert answer.json()["changed"] == []  # a stranger adds no address to someone's account

    phil.refresh_from_db()
    assert phil.email is None
    mallory = Browser()
    with bolt.capture(execute=True):
        mallory.post("/accounts/password/reset/", {"email": "mallory@evil.example"})
    assert not [message for message in mail.outbox if RESET_LINK.search(message.body)]


def test_a_question_the_daily_limit_held_back_is_asked_when_the_tenant_asks_again_another_day(
    world, alice, bolt, client
):
    for number in range(2, 6):
        bolt.post("/api/v1/purposes/postal-marketing/versions", {"statement": f"Postal v{number}"})
        bolt.grant({"email": "alice@example.org"})
    assert len(mail.outbox) == 3  # the fourth question, for v5, was held back
    cache.delete(f"consent-confirmation:sent-to:{alice.pk}")  # the day is over
    bolt.grant({"email": "alice@example.org"})
    assert len(mail.outbox) == 4
    assert "Postal v5" in client.get(LINK.search(mail.outbox[-1].body).group(1)).content.decode()
