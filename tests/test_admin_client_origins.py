"""The client admin's allowed origins (decision 32): set through the same service as the API,
so staff get the same rules and see the service's refusal on the form."""

import pytest

from tenants.models import Client

from .test_admin import client_form, resubmit, url


@pytest.fixture
def staff(client, world):
    client.force_login(world.staff)
    return client


def test_staff_set_a_clients_origins_one_per_line(staff, world):
    app = world.acme.app
    page = staff.get(url(Client, "change", app.pk))
    assert 'name="allowed_origins"' in page.content.decode()

    origins = "https://App.Acme.example:443\nhttps://beta.acme.example"
    response = staff.post(url(Client, "change", app.pk), resubmit(page, allowed_origins=origins))

    assert response.status_code == 302
    app.refresh_from_db()
    assert app.allowed_origins == "https://app.acme.example https://beta.acme.example"


@pytest.mark.parametrize(
    ("origins", "refusal"),
    [
        ("https://app.acme.example/cb", "path not allowed"),  # the toolkit's check, on the field
        ("https://app.acme.example\nhttps://APP.acme.example:443", "listed twice"),  # the service's, as a message
    ],
)
def test_the_change_form_shows_what_is_refused(staff, world, origins, refusal):
    app = world.acme.app
    page = staff.get(url(Client, "change", app.pk))

    response = staff.post(url(Client, "change", app.pk), resubmit(page, allowed_origins=origins), follow=True)

    assert refusal in response.content.decode()
    app.refresh_from_db()
    assert app.allowed_origins == ""


def test_a_new_app_client_gets_its_origins_and_a_machine_client_none(staff, world):
    app = client_form(
        world,
        name="Acme web",
        client_type=Client.CLIENT_PUBLIC,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://web.acme.example/cb",
        allowed_scopes=["openid"],
        allowed_origins="https://web.acme.example",
    )
    staff.post(url(Client, "add"), app)
    assert Client.objects.get(name="Acme web").allowed_origins == "https://web.acme.example"

    machine = client_form(world, allowed_origins="https://crm.acme.example")
    response = staff.post(url(Client, "add"), machine)
    assert response.status_code == 200 and "authorization-code" in response.content.decode()
    assert not Client.objects.filter(name="Acme warehouse").exists()
