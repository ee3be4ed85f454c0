"""acr_values and the ID token's acr (Core 1.0, 3.1.2.1 and 2): the hub's two levels, and
step-up to a second factor for the one authorization that asks for it.

Most tests drive the endpoints with Django's client; the last one is a relying party
(Authlib) against the live server.
"""

import json
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import get_user
from django.test import Client as DjangoTestClient

from tests.oidc.conftest import query_of, relying_party
from tests.oidc.test_claims_parameter import PASSWORD_RECORD, code_from, payload_of, token_for
from tests.test_mfa_policy import SECRET, totp_now
from tests.test_signin_policy import authorize_path, configure, signed_in

ONE = "urn:harbourmaster:acr:1"
TWO = "urn:harbourmaster:acr:2"
TOTP_RECORD = {"method": "mfa", "type": "totp", "id": 1}


def id_token_after(client, app, response) -> dict:
    return payload_of(token_for(client, app, code_from(response))["id_token"])


def redirect_of(response) -> tuple[str, str]:
    """Where a step-up sends the user, and where it sends them back to."""
    parts = urlsplit(response["Location"])
    return parts.path, parse_qs(parts.query)["next"][0]


def test_acr_is_in_the_id_token_only_when_asked_for(client, world):
    signed_in(client, world.alice, PASSWORD_RECORD)
    assert "acr" not in id_token_after(client, world.acme.app, client.get(authorize_path(world.acme.app)))
    answer = client.get(authorize_path(world.acme.app, acr_values=ONE))
    assert id_token_after(client, world.acme.app, answer)["acr"] == ONE


def test_the_claims_parameter_can_ask_for_acr(client, world):
    signed_in(client, world.alice, PASSWORD_RECORD, TOTP_RECORD)
    answer = client.get(authorize_path(world.acme.app, claims=json.dumps({"id_token": {"acr": None}})))
    id_token = id_token_after(client, world.acme.app, answer)
    assert id_token["acr"] == TWO
    assert "mfa" in id_token["amr"]


def test_a_session_with_a_second_factor_goes_straight_through_a_two_factor_request(client, world):
    signed_in(client, world.alice, PASSWORD_RECORD, TOTP_RECORD)
    answer = client.get(authorize_path(world.acme.app, acr_values=TWO))
    assert id_token_after(client, world.acme.app, answer)["acr"] == TWO


@pytest.mark.parametrize("acr_values", [f"{ONE} {TWO}", f"{TWO} {ONE}", "urn:elsewhere:gold", ""])
def test_a_request_that_accepts_one_factor_is_not_stepped_up(client, world, acr_values):
    signed_in(client, world.alice, PASSWORD_RECORD)
    answer = client.get(authorize_path(world.acme.app, acr_values=acr_values))
    assert "code" in query_of(answer["Location"])
    id_token = id_token_after(client, world.acme.app, answer)
    assert id_token.get("acr", ONE) == ONE


def test_a_voluntary_acr_claim_with_a_higher_value_only_reports_the_level(client, world):
    signed_in(client, world.alice, PASSWORD_RECORD)
    claims = json.dumps({"id_token": {"acr": {"values": [TWO]}}})
    answer = client.get(authorize_path(world.acme.app, claims=claims))
    assert id_token_after(client, world.acme.app, answer)["acr"] == ONE


@pytest.fixture
def dora(make_user):
    """A user with an authenticator app, signed in with her password only."""
    user = make_user("dora@example.org", given_name="Dora")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    TOTP.activate(user, SECRET)
    return user


@pytest.mark.parametrize(
    "parameters",
    [
        {"acr_values": TWO},
        {"claims": json.dumps({"id_token": {"acr": {"essential": True, "values": [TWO]}}})},
        {"claims": json.dumps({"id_token": {"acr": {"essential": True, "value": TWO}}})},
    ],
)
def test_a_two_factor_request_steps_up_to_the_second_factor_and_back(client, world, dora, parameters):
    signed_in(client, dora, {"method": "password", "email": dora.email})
    path = authorize_path(world.acme.app, **parameters)
    answer = client.get(path)
    assert redirect_of(answer) == ("/accounts/2fa/reauthenticate/", path)

    proven = client.post(answer["Location"], {"code": totp_now(SECRET)})
    assert proven.status_code == 302 and proven["Location"] == path
    id_token = id_token_after(client, world.acme.app, client.get(path))
    assert id_token["acr"] == TWO
    assert set(id_token["amr"]) == {"mfa", "otp", "pwd"}


def test_a_user_without_a_second_factor_is_sent_to_enrol_one(client, world):
    signed_in(client, world.alice, PASSWORD_RECORD)
    path = authorize_path(world.acme.app, acr_values=TWO)
    assert redirect_of(client.get(path)) == ("/accounts/2fa/totp/activate/", path)


def test_the_step_up_is_for_that_one_request(client, world, dora):
    signed_in(client, dora, {"method": "password", "email": dora.email})
    assert "code" in query_of(client.get(authorize_path(world.acme.app))["Location"])
    assert "code" in query_of(client.get(authorize_path(world.bolt.app))["Location"])


def test_prompt_none_with_an_unmet_two_factor_request_is_login_required(client, world, dora):
    signed_in(client, dora, {"method": "password", "email": dora.email})
    answer = client.get(authorize_path(world.acme.app, acr_values=TWO, prompt="none"))
    assert answer["Location"].startswith("https://app.acme.example/callback?")
    found = query_of(answer["Location"])
    assert found["error"] == "login_required" and found["state"] == "s1"
    assert "code" not in found


def test_a_guest_asked_for_a_factor_is_sent_to_sign_in(client, world):
    configure(world.acme.tenant, login_methods=["password", "guest"])
    plain = authorize_path(world.acme.app)
    client.post("/accounts/guest/", {"next": plain})
    assert get_user(client).is_guest
    assert (
        id_token_after(
            client,
            world.acme.app,
            client.get(authorize_path(world.acme.app, claims=json.dumps({"id_token": {"acr": None}}))),
        )["acr"]
        == "0"
    )

    path = authorize_path(world.acme.app, acr_values=ONE)
    assert redirect_of(client.get(path)) == ("/accounts/login/", path)
    assert not get_user(client).is_authenticated


# --- A relying party with Authlib, against the live server ---------------------------------


def browser_session_of(django_client) -> requests.Session:
    """A browser holding the session cookie of ``django_client``."""
    session = requests.Session()
    for name, morsel in django_client.cookies.items():
        session.cookies.set(name, morsel.value)
    return session


@pytest.mark.django_db(transaction=True)
def test_a_relying_party_asking_for_two_factors_gets_them(provider, world, dora):
    assert provider.metadata["acr_values_supported"] == [ONE, TWO]
    rp = relying_party(world.acme.app, scope="openid")
    verifier = secrets.token_urlsafe(48)
    url, _state = rp.create_authorization_url(
        provider.endpoint("authorization_endpoint"), code_verifier=verifier, acr_values=TWO
    )
    django_client = DjangoTestClient()
    signed_in(django_client, dora, {"method": "password", "email": dora.email})
    with rp, browser_session_of(django_client) as session:
        response = session.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert urlsplit(location).path == "/accounts/2fa/reauthenticate/"

        page = session.get(f"{provider.issuer}{location}", timeout=10)
        assert page.status_code == 200
        proven = session.post(
            f"{provider.issuer}{location}",
            {"code": totp_now(SECRET), "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
        assert proven.status_code == 302, proven.text[:300]
        response = session.get(f"{provider.issuer}{proven.headers['Location']}", allow_redirects=False, timeout=10)
        assert response.status_code == 302
        token = rp.fetch_token(
            provider.endpoint("token_endpoint"),
            authorization_response=response.headers["Location"],
            code_verifier=verifier,
        )
    id_token = provider.decode(token["id_token"]).claims
    assert id_token["acr"] == TWO
    assert "mfa" in id_token["amr"]
