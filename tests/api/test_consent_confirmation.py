"""A tenant's word that a user agreed opens that user to it only once the user confirms,
unless the tenant deals with the user first-hand (docs/decisions/0035)."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.utils import timezone

from accounts.confirmations import services as confirmations
from accounts.merge import guest_merge
from accounts.models import Membership, User
from accounts.services import membership_link, user_guest_create
from consents.models import Consent, ConsentRecord
from consents.services import consent_grant, purpose_statement_publish
from events.models import Event
from tests.api.conftest import assert_problem
from tests.api.test_users_import import IMPORTS, JSONL, WHEN, jsonl
from tests.conftest import SYSTEM

LINK = re.compile(r"http://testserver(/consents/confirm/[^/\s]+/)")


@pytest.fixture
def alice(world) -> User:
    """Alice proved her address and gave acme her consent: bolt has never dealt with her."""
    User.objects.filter(pk=world.alice.pk).update(email_verified=True)
    return User.objects.get(pk=world.alice.pk)


@pytest.fixture
def bolt(world, api_as, django_capture_on_commit_callbacks):
    """Bolt's system, which records consents and reads its postal-marketing list (name and
    address); its requests' commits run their callbacks (the messages they send)."""
    api = api_as(world.bolt.backend, ["consents:write", "users:read", "users:write"])

    class Bolt:
        def act(self, user, action="grant", purpose="postal-marketing", **extra):
            body = {"user": user, "purpose": purpose, "action": action, "occurred_at": timezone.now().isoformat()}
            with django_capture_on_commit_callbacks(execute=True):
                return api.post("/api/v1/consents", body | extra, format="json")

        def postal_list(self) -> list[dict]:
            """Bolt's list, less Bob (who consented to bolt in the world)."""
            response = api.get("/api/v1/purposes/postal-marketing/users")
            assert response.status_code == 200, response.content
            return [row for row in response.json()["results"] if row["uuid"] != str(world.bob.uuid)]

        def lookup(self, user):
            return api.get(f"/api/v1/users/{user.uuid}?purpose=postal-marketing")

    Bolt.api = api
    return Bolt()


def link_in(message) -> str:
    return LINK.search(message.body).group(1)


def test_a_grant_for_a_user_the_tenant_never_dealt_with_waits_for_the_users_yes(world, alice, bolt, client):
    response = bolt.act({"email": "Alice@Example.org"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "pending"
    # Nothing of Alice's reaches bolt: not in the list, not by uuid.
    assert bolt.postal_list() == []
    assert_problem(bolt.lookup(alice), 404)
    assert Event.all_tenants.filter(tenant=world.bolt.tenant, type="consent.pending").count() == 1

    (message,) = mail.outbox
    assert message.to == ["alice@example.org"]
    assert "Bolt" in message.subject and "Postal Marketing" in message.subject
    page = client.get(link_in(message))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Bolt says you agreed to" in text and world.bolt.postal.versions.get().statement in text
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "pending"  # opening is no answer

    answered = client.post(link_in(message), {"answer": "confirm"}, HTTP_USER_AGENT="Mail app")
    assert answered.status_code == 200 and "is confirmed" in answered.content.decode()
    (row,) = bolt.postal_list()
    assert (row["uuid"], row["given_name"], row["address_country"]) == (str(alice.uuid), "Alice", "DE")
    proof = ConsentRecord.all_tenants.filter(user=alice, purpose=world.bolt.postal).order_by("id")
    assert [(record.action, record.actor, record.channel, record.source) for record in proof] == [
        ("grant", f"client:{world.bolt.backend.client_id}", "api", ""),
        ("grant", f"user:{alice.uuid}", "email", "confirmation-link"),
    ]
    assert proof.last().user_agent == "Mail app" and proof.last().client is None
    assert Event.all_tenants.filter(tenant=world.bolt.tenant, type="consent.granted", subject=str(alice.uuid)).exists()
    again = client.post(link_in(message), {"answer": "decline"})
    assert "Already confirmed" in again.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "granted"


def test_no_from_the_user_withdraws_and_bolt_still_gets_nothing(world, alice, bolt, client):
    bolt.act({"email": "alice@example.org"})
    (message,) = mail.outbox
    answered = client.post(link_in(message), {"answer": "decline"})
    assert answered.status_code == 200 and "Bolt will not use your data" in answered.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "withdrawn"
    assert bolt.postal_list() == []
    later = client.post(link_in(message), {"answer": "confirm"})
    assert "Nothing to confirm" in later.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "withdrawn"


def test_a_tenant_repeating_itself_sends_one_message_and_records_once(world, alice, bolt):
    first = bolt.act({"email": "alice@example.org"})
    records = ConsentRecord.all_tenants.count()
    second = bolt.act({"email": "alice@example.org"})
    assert first.json() == second.json() and second.json()["state"] == "pending"
    assert ConsentRecord.all_tenants.count() == records
    # A withdrawal and a new grant: recorded, but the same question is not asked twice.
    assert bolt.act({"email": "alice@example.org"}, action="withdraw").json()["state"] == "withdrawn"
    assert bolt.act({"email": "alice@example.org"}).json()["state"] == "pending"
    assert len(mail.outbox) == 1


def test_the_tenants_withdrawal_while_waiting_ends_the_question(world, alice, bolt, client):
    bolt.act({"email": "alice@example.org"})
    bolt.act({"email": "alice@example.org"}, action="withdraw")
    (message,) = mail.outbox
    page = client.get(link_in(message))
    assert "Nothing to confirm" in page.content.decode()
    client.post(link_in(message), {"answer": "confirm"})
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "withdrawn"


def test_a_tenant_the_user_signed_in_to_is_taken_at_its_word(world, alice, bolt):
    membership_link(actor=SYSTEM, user=alice, tenant=world.bolt.tenant, source=Membership.Source.SIGN_IN)
    response = bolt.act({"email": "alice@example.org"})
    assert response.json()["state"] == "granted" and mail.outbox == []
    assert [row["uuid"] for row in bolt.postal_list()] == [str(alice.uuid)]


def test_a_user_the_tenant_brought_itself_is_taken_at_its_word(world, bolt):
    pushed = bolt.api.post("/api/v1/users", {"email": "dora@example.org", "given_name": "Dora"}, format="json")
    assert pushed.status_code == 201, pushed.content
    response = bolt.act({"email": "dora@example.org"})
    assert response.json()["state"] == "granted" and mail.outbox == []
    assert [row["given_name"] for row in bolt.postal_list()] == ["Dora"]


def test_the_tenant_that_made_an_account_keeps_its_word_after_someone_signs_in(world, bolt, api_as):
    pushed = bolt.api.post("/api/v1/users", {"email": "dora@example.org", "email_verified": True}, format="json")
    assert pushed.status_code == 201, pushed.content
    User.objects.filter(email="dora@example.org").update(last_login=timezone.now(), given_name="Dora")
    assert bolt.act({"email": "dora@example.org"}).json()["state"] == "granted"
    # Acme never dealt with Dora: its word waits for hers.
    acme = api_as(world.acme.backend, ["consents:write"])
    body = {"user": {"email": "dora@example.org"}, "purpose": "postal-marketing", "action": "grant"}
    answered = acme.post("/api/v1/consents", body | {"occurred_at": timezone.now().isoformat()}, format="json")
    assert answered.json()["state"] == "pending"


def test_a_confirmed_consent_opens_its_own_purpose_only(world, alice, bolt, client):
    """Alice confirmed bolt's newsletter (her e-mail address): bolt's word that she also
    agreed to postal marketing (her postal address) is asked about again."""
    bolt.act({"email": "alice@example.org"}, purpose="newsletter")
    client.post(link_in(mail.outbox[0]), {"answer": "confirm"})
    assert bolt.act({"email": "alice@example.org"}).json()["state"] == "pending"
    assert bolt.postal_list() == []
    assert len(mail.outbox) == 2


def test_a_word_awaiting_confirmation_keeps_a_consent_that_counts_but_renews_none(world, alice):
    """consent_grant's own rule (a guest merge carries a waiting consent onto an account
    that may have agreed already): a consent that counts stays granted at the new
    statement; one at a statement that needs asking again waits."""
    postal = world.bolt.postal
    consent_grant(actor=SYSTEM, user=alice, purpose=postal, channel="web")
    purpose_statement_publish(actor=SYSTEM, purpose=postal, statement="Postal v2, same terms")
    waiting = {"actor": SYSTEM, "user": alice, "purpose": postal, "channel": "api", "awaiting_confirmation": True}
    assert consent_grant(**waiting, version=2).state == "granted"
    purpose_statement_publish(actor=SYSTEM, purpose=postal, statement="Postal v3", requires_reconsent=True)
    assert consent_grant(**waiting, version=3).state == "pending"


def test_a_user_known_by_phone_is_asked_by_text(world, bolt, settings, tmp_path):
    settings.SMS_BACKEND = "console"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    phoned = User.objects.create(phone_number="+4915112345678", phone_number_verified=True, given_name="Phil")
    membership_link(actor=SYSTEM, user=phoned, tenant=world.acme.tenant, source=Membership.Source.SIGN_IN)
    assert bolt.act({"phone_number": "+4915112345678"}).json()["state"] == "pending"
    (text,) = [path.read_text() for path in (tmp_path / "sms").glob("*.txt")]
    assert "Bolt says you agreed to" in text and "/consents/confirm/" in text
    assert mail.outbox == []


def test_an_import_naming_someone_elses_user_asks_them_too(world, alice, api_as, django_capture_on_commit_callbacks):
    importer = api_as(world.bolt.backend, ["users:write", "consents:write"])
    grant = {"purpose": "postal-marketing", "action": "grant", "occurred_at": WHEN}
    row = {"email": "alice@example.org", "consents": [grant]}
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.post(IMPORTS, data=jsonl(row).encode(), content_type=JSONL)
    assert response.status_code == 202, response.content
    job = importer.get(response["Location"]).json()
    assert (job["status"], job["rows_done"], job["rows_failed"]) == ("done", 1, 0)
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "pending"
    (message,) = mail.outbox
    assert message.to == ["alice@example.org"] and LINK.search(message.body)


@pytest.mark.parametrize("damage", ["altered", "expired", "unknown purpose"])
def test_a_damaged_or_old_link_changes_nothing(world, alice, bolt, client, monkeypatch, damage):
    bolt.act({"email": "alice@example.org"})
    path = link_in(mail.outbox[0])
    if damage == "altered":
        path = path[:-3] + ("A" if path[-3] != "A" else "B") + "x/"
    elif damage == "expired":
        monkeypatch.setattr(confirmations, "LINK_MAX_AGE", timedelta(seconds=-1))
    else:
        data = {"u": str(alice.uuid), "p": world.acme.postal.pk, "v": 7, "c": "email"}
        path = f"/consents/confirm/{signing.dumps(data, salt=confirmations.LINK_SALT)}/"
    for response in (client.get(path), client.post(path, {"answer": "confirm"})):
        assert response.status_code == 404 and "This link does not work" in response.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "pending"


def test_a_link_confirms_only_its_own_tenants_consent(world, alice, bolt, api_as, client):
    """Acme's link cannot confirm bolt's consent: each names its purpose, signed."""
    bolt.act({"email": "alice@example.org"})
    acme_link = {"u": str(alice.uuid), "p": world.acme.postal.pk, "v": 1, "c": "email"}
    path = f"/consents/confirm/{signing.dumps(acme_link, salt=confirmations.LINK_SALT)}/"
    page = client.post(path, {"answer": "confirm"})
    assert page.status_code == 200 and "Nothing to confirm" in page.content.decode()
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "pending"
    assert not Consent.all_tenants.filter(user=alice, purpose=world.acme.postal).exists()


def test_answers_need_a_choice_and_are_counted_per_client(world, alice, bolt, client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "consent_confirmation": "2/m/ip"}
    bolt.act({"email": "alice@example.org"})
    path = link_in(mail.outbox[0])
    refused = client.post(path, {"answer": "maybe"})
    assert refused.status_code == 400 and "Please choose one of the two answers" in refused.content.decode()
    client.post(path, {"answer": "decline"})
    client.post(path, {"answer": "decline"})
    assert client.post(path, {"answer": "confirm"}).status_code == 429
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "withdrawn"


def test_a_guests_waiting_consent_still_waits_on_the_account_it_joins(world, alice):
    guest = user_guest_create(actor=SYSTEM, tenant=world.acme.tenant)
    User.objects.filter(pk=guest.pk).update(last_login=timezone.now())  # a guest who signed in, elsewhere
    membership_link(actor=SYSTEM, user=guest, tenant=world.acme.tenant, source=Membership.Source.API)
    consent_grant(actor=SYSTEM, user=guest, purpose=world.bolt.postal, channel="api", awaiting_confirmation=True)
    guest_merge(guest=User.objects.get(pk=guest.pk), into=alice, actor=SYSTEM)
    assert Consent.all_tenants.get(user=alice, purpose=world.bolt.postal).state == "pending"
