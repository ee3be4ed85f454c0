"""Tenant systems push users in (users:write): create, update, match, guests."""

from accounts.models import Membership, User
from events.models import Event
from tests.api.conftest import assert_problem


def push(api, **body):
    return api.post("/api/v1/users", body, format="json")


def test_push_creates_a_user_with_a_membership_and_an_event(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    response = push(api, email=" Dora@Example.org ", given_name="Dora", external_id="C-1", address_country="DE")
    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(uuid=body["uuid"])
    assert (user.email, user.given_name, user.address_country, user.email_verified) == (
        "dora@example.org",
        "Dora",
        "DE",
        False,
    )
    assert body == {"uuid": str(user.uuid), "external_id": "C-1", "created": True, "changed": body["changed"]}
    membership = Membership.all_tenants.get(user=user)
    assert (membership.tenant, membership.source, membership.external_id) == (world.acme.tenant, "api", "C-1")
    assert Event.all_tenants.filter(tenant=world.acme.tenant, type="user.created", subject=str(user.uuid)).exists()


def test_push_by_external_id_updates_and_names_the_changed_fields(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    first = push(api, email="dora@example.org", given_name="Dora", external_id="C-1").json()
    response = push(api, external_id="C-1", given_name="Dorothea", family_name="Dean")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "uuid": first["uuid"],
        "external_id": "C-1",
        "created": False,
        "changed": ["family_name", "given_name"],
    }
    assert User.objects.get(uuid=first["uuid"]).given_name == "Dorothea"
    event = Event.all_tenants.filter(type="user.updated", subject=first["uuid"]).get()
    assert event.payload["changed"] == ["family_name", "given_name"]  # names, never values


def test_push_matches_a_verified_email_of_an_existing_user(world, api_as):
    User.objects.filter(pk=world.carol.pk).update(email_verified=True)
    api = api_as(world.bolt.backend, ["users:write"])
    response = push(api, email="CAROL@example.org", locale="de-DE", external_id="B-77")
    assert response.status_code == 200, response.content
    assert response.json()["uuid"] == str(world.carol.uuid)
    assert User.objects.get(pk=world.carol.pk).locale == "de-DE"
    assert Membership.all_tenants.get(tenant=world.bolt.tenant, user=world.carol).external_id == "B-77"


def test_push_cannot_claim_an_unverified_email_of_someone_else(world, api_as):
    api = api_as(world.bolt.backend, ["users:write"])
    assert_problem(push(api, email="carol@example.org", given_name="Mallory"), 409)
    assert User.objects.get(pk=world.carol.pk).given_name == "Carol"
    assert not Membership.all_tenants.filter(tenant=world.bolt.tenant, user=world.carol).exists()


def test_push_cannot_replace_a_sign_in_identifier(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    uuid = push(api, email="dora@example.org", external_id="C-1").json()["uuid"]
    assert_problem(push(api, external_id="C-1", email="mallory@example.org", email_verified=True), 409)
    user = User.objects.get(uuid=uuid)
    assert (user.email, user.email_verified) == ("dora@example.org", False)


def test_identifiers_naming_two_users_are_a_conflict(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    push(api, email="dora@example.org", external_id="C-1")
    push(api, email="erin@example.org", external_id="C-2")
    assert_problem(push(api, email="erin@example.org", external_id="C-1"), 409)


def test_push_by_uuid_of_a_user_the_tenant_does_not_know_is_404(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    # Bob consents only to Bolt: Acme does not know him, and learns nothing about him.
    assert_problem(push(api, uuid=str(world.bob.uuid), given_name="X"), 404)
    assert_problem(push(api, uuid="00000000-0000-4000-8000-000000000000", given_name="X"), 404)
    assert User.objects.get(pk=world.bob.pk).given_name == "Bob"


def test_push_by_uuid_of_a_consenting_user_updates_it(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    response = push(api, uuid=str(world.alice.uuid), nickname="Ali")
    assert response.status_code == 200, response.content
    assert User.objects.get(pk=world.alice.pk).nickname == "Ali"


def test_bad_push_is_refused_with_paths_and_writes_nothing(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    assert_problem(push(api, email="x@example.org", tenant="bolt"), 400, path="/tenant")
    body = assert_problem(push(api, email="not-an-email", phone_number="0301234", birthdate="1990-13-01"), 400)
    assert {error["path"] for error in body["errors"]} == {"/email", "/phone_number", "/birthdate"}
    body = assert_problem(push(api, given_name="No Identifier"), 400, path="/email")
    assert not User.objects.filter(given_name="No Identifier").exists()
    assert_problem(api.post("/api/v1/users", ["a", "list"], format="json"), 400)
    assert_problem(push(api, email="x@example.org", external_id="cookie:abc"), 400, path="/external_id")


def test_push_needs_users_write(world, api_as):
    api = api_as(world.acme.backend, ["users:read", "consents:write"])
    assert_problem(push(api, email="dora@example.org"), 403)
    assert not User.objects.filter(email="dora@example.org").exists()


def test_guest_from_cookie_is_created_once(world, api_as):
    api = api_as(world.acme.backend, ["users:write"])
    first = api.post("/api/v1/users/guests", {"cookie_id": "ck_1234567890"}, format="json")
    again = api.post("/api/v1/users/guests", {"cookie_id": "ck_1234567890"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["uuid"] == again.json()["uuid"] and again.json()["created"] is False
    guest = User.objects.get(uuid=first.json()["uuid"])
    assert guest.kind == "guest" and guest.email is None
    assert Membership.all_tenants.get(user=guest).external_id == "cookie:ck_1234567890"


def test_the_same_cookie_id_at_another_tenant_is_another_guest(world, api_as):
    acme = api_as(world.acme.backend, ["users:write"]).post(
        "/api/v1/users/guests", {"cookie_id": "ck_1234567890"}, format="json"
    )
    bolt = api_as(world.bolt.backend, ["users:write"]).post(
        "/api/v1/users/guests", {"cookie_id": "ck_1234567890"}, format="json"
    )
    assert acme.json()["uuid"] != bolt.json()["uuid"]


def test_guest_needs_users_write_and_a_sane_cookie_id(world, api_as):
    assert_problem(
        api_as(world.acme.backend, ["users:read"]).post(
            "/api/v1/users/guests", {"cookie_id": "ck_12345678"}, format="json"
        ),
        403,
    )
    api = api_as(world.acme.backend, ["users:write"])
    assert_problem(api.post("/api/v1/users/guests", {"cookie_id": "a b"}, format="json"), 400, path="/cookie_id")
