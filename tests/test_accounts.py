import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.hashers import HubArgon2PasswordHasher
from accounts.models import Membership, User
from accounts.selectors import tenants_related_to_user
from accounts.services import membership_link, user_guest_create, user_profile_update, user_register
from events.models import Event
from harbourmaster.actors import Actor

ACTOR = Actor.system("tests")


def test_register_normalises_email_and_hashes_password(db):
    user = user_register(actor=ACTOR, email="  Dana@Example.ORG ", password="a long enough passphrase")
    assert user.email == "dana@example.org"
    assert user.password.startswith("argon2$argon2id$v=19$m=7168,t=5,p=1$")
    assert authenticate(email="DANA@example.org", password="a long enough passphrase") == user
    assert user.kind == User.Kind.REGISTERED and user.uuid


def test_email_is_unique_whatever_its_case(make_user):
    make_user("dana@example.org")
    with pytest.raises(ValidationError, match="email"):
        make_user("DANA@example.org")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": None}, "email address or a phone number"),
        ({"email": "not-an-email"}, "email"),
        ({"email": None, "phone_number": "030 1234"}, "E.164"),
        ({"shoe_size": 44}, "shoe_size"),
        ({"address_country": "Germany"}, "address_country"),
    ],
)
def test_register_refuses_bad_input_and_writes_nothing(db, fields, error):
    arguments = {"email": "erin@example.org"} | fields
    with pytest.raises(ValidationError, match=error):
        user_register(actor=ACTOR, **arguments)
    assert not User.objects.exists()


def test_register_by_phone_only(db):
    user = user_register(actor=ACTOR, phone_number="+4930123456")
    assert (user.email, user.phone_number) == (None, "+4930123456")


def test_registered_user_needs_an_identifier_in_the_database(db):
    with pytest.raises(IntegrityError):
        User.objects.create(kind=User.Kind.REGISTERED, email=None, phone_number=None)


def test_register_for_a_tenant_links_it_and_tells_it(make_tenant):
    tenant = make_tenant("acme")
    user = user_register(actor=ACTOR, email="erin@example.org", tenant=tenant)
    assert Membership.all_tenants.get(user=user).tenant == tenant
    assert Event.all_tenants.get(subject=str(user.uuid)).type == "user.created"


def test_guest_has_no_credentials_and_belongs_to_the_tenant(make_tenant):
    tenant = make_tenant("acme")
    guest = user_guest_create(actor=ACTOR, tenant=tenant)
    assert guest.is_guest and guest.email is None and not guest.has_usable_password()
    assert Membership.all_tenants.filter(user=guest, tenant=tenant).exists()
    assert [event.type for event in Event.all_tenants.filter(subject=str(guest.uuid))] == ["user.created"]


def test_profile_update_tells_every_related_tenant_which_fields_changed(world):
    membership_link(actor=ACTOR, user=world.alice, tenant=world.bolt.tenant, source=Membership.Source.SIGN_IN)
    user_profile_update(actor=ACTOR, user=world.alice, changes={"family_name": "Ashdown", "given_name": "Alice"})
    world.alice.refresh_from_db()
    assert world.alice.family_name == "Ashdown"
    events = Event.all_tenants.filter(type="user.updated", subject=str(world.alice.uuid))
    assert {event.tenant.slug for event in events} == {"acme", "bolt"}
    assert all(event.payload == {"user": str(world.alice.uuid), "changed": ["family_name"]} for event in events)


def test_profile_update_does_not_tell_unrelated_tenants(world):
    user_profile_update(actor=ACTOR, user=world.carol, changes={"nickname": "cc"})
    assert not Event.all_tenants.filter(subject=str(world.carol.uuid)).exists()


def test_profile_update_without_change_writes_nothing(world):
    before = Event.all_tenants.count()
    user_profile_update(actor=ACTOR, user=world.alice, changes={"given_name": "Alice"})
    assert Event.all_tenants.count() == before


def test_profile_update_refuses_bad_input_and_changes_nothing(world):
    with pytest.raises(ValidationError, match="phone_number"):
        user_profile_update(actor=ACTOR, user=world.alice, changes={"family_name": "X", "phone_number": "12"})
    world.alice.refresh_from_db()
    assert world.alice.family_name == "Archer"
    with pytest.raises(ValidationError, match="password"):
        user_profile_update(actor=ACTOR, user=world.alice, changes={"password": "x"})


def test_related_tenants_come_from_memberships_and_current_consents(world):
    assert list(tenants_related_to_user(user=world.bob)) == [world.bolt.tenant]
    assert list(tenants_related_to_user(user=world.carol)) == []


def test_external_id_is_unique_within_a_tenant_only(world):
    membership_link(actor=ACTOR, user=world.alice, tenant=world.acme.tenant, source="api", external_id="crm-1")
    membership_link(actor=ACTOR, user=world.bob, tenant=world.bolt.tenant, source="api", external_id="crm-1")
    with pytest.raises(ValidationError):
        membership_link(actor=ACTOR, user=world.carol, tenant=world.acme.tenant, source="api", external_id="crm-1")


@pytest.mark.parametrize("known", [True, False])
def test_a_wrong_password_costs_one_argon2_run(client, world, monkeypatch, known):
    """Each guess costs the hub one Argon2id run, known account or not (a verification, or
    the dummy hash that hides an unknown address): no second backend runs it again."""
    runs = []
    verify, encode = HubArgon2PasswordHasher.verify, HubArgon2PasswordHasher.encode
    monkeypatch.setattr(HubArgon2PasswordHasher, "verify", lambda self, *a: runs.append("verify") or verify(self, *a))
    monkeypatch.setattr(HubArgon2PasswordHasher, "encode", lambda self, *a: runs.append("encode") or encode(self, *a))
    email = world.alice.email if known else "nobody-here@example.org"

    response = client.post("/accounts/login/", {"login": email, "password": "not the password"})

    assert response.status_code == 200  # the form again, with its error
    assert not response.wsgi_request.user.is_authenticated
    assert len(runs) == 1, runs


def test_staff_sign_in_to_the_admin_with_their_email(client, world):
    world.staff.set_password("a long staff passphrase")
    world.staff.save(update_fields=["password"])
    page = client.post(
        "/admin/login/?next=/admin/", {"username": world.staff.email, "password": "a long staff passphrase"}
    )
    assert page.status_code == 302 and page["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
