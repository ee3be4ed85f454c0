import pytest
import requests
from oauth2_provider.models import get_access_token_model

from .conftest import query_of

pytestmark = pytest.mark.django_db(transaction=True)

LOGGED_OUT = "https://portal.acme.example/logged-out"


@pytest.fixture
def portal(world, make_client):
    client, _ = make_client(
        world.acme.tenant,
        public=True,
        redirect_uris=["https://portal.acme.example/callback"],
        post_logout_redirect_uris=[LOGGED_OUT],
    )
    return client


def test_rp_initiated_logout_ends_the_browsers_hub_session(provider, world, portal, sign_in, browser):
    signed_in = sign_in(portal, world.alice)
    session = browser(world.alice)
    params = {"id_token_hint": signed_in.token["id_token"], "post_logout_redirect_uri": LOGGED_OUT, "state": "s-1"}
    confirm = session.get(provider.endpoint("end_session_endpoint"), params=params, timeout=10)
    assert confirm.status_code == 200 and 'id="authorizationForm"' in confirm.text

    done = session.post(
        provider.endpoint("end_session_endpoint"),
        data={**params, "allow": "on", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 302
    assert done.headers["Location"].startswith(LOGGED_OUT)
    assert query_of(done.headers["Location"]) == {"state": "s-1"}
    # The hub session ends, nothing else (decision 19): the app revokes its own tokens, and
    # the user's sign-ins elsewhere stay.
    assert get_access_token_model().objects.filter(user=world.alice).exists()
    # The browser session is gone: authorizing again asks for a sign-in.
    again = session.get(provider.endpoint("authorization_endpoint"), allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/accounts/login/" in again.headers["Location"]


def test_logout_refuses_an_unregistered_post_logout_redirect(provider, world, portal, sign_in, browser):
    signed_in = sign_in(portal, world.alice)
    response = browser(world.alice).get(
        provider.endpoint("end_session_endpoint"),
        params={"id_token_hint": signed_in.token["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("Location", "")


def test_logout_refuses_a_tampered_id_token_hint(provider, world, portal, sign_in, browser):
    header, payload, signature = sign_in(portal, world.alice).token["id_token"].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = browser(world.alice).get(
        provider.endpoint("end_session_endpoint"), params={"id_token_hint": tampered}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 400
    assert "authorizationForm" not in response.text


@pytest.mark.parametrize("hint", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_logout_with_a_malformed_hint_is_a_clean_error(provider, hint):
    response = requests.get(provider.endpoint("end_session_endpoint"), params={"id_token_hint": hint}, timeout=10)
    assert response.status_code == 400
