"""id_token_hint at the authorization endpoint (Core 1.0, 3.1.2.1), through Django's client."""

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress

from tests.test_signin_policy import VERIFIER, authorize_path

PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def id_token_of(client, world):
    """Sign ``user`` in to acme's app and return the ID token the app got."""

    def sign_in(user) -> str:
        user.set_password(PASSWORD)
        user.save()
        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
        client.logout()
        target = authorize_path(world.acme.app)
        assert (
            client.post("/accounts/login/", {"login": user.email, "password": PASSWORD, "next": target}).status_code
            == 302
        )
        callback = client.get(target)["Location"]
        code = parse_qs(urlsplit(callback).query)["code"][0]
        answer = client.post(
            "/o/token/",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": world.acme.app.redirect_uris.split()[0],
                "client_id": world.acme.app.client_id,
                "code_verifier": VERIFIER,
            },
        )
        assert answer.status_code == 200, answer.content
        return answer.json()["id_token"]

    return sign_in


def query(response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response["Location"]).query)


def test_the_hinted_user_signed_in_goes_straight_through(client, world, id_token_of):
    hint = id_token_of(world.alice)
    answer = client.get(authorize_path(world.acme.app, id_token_hint=hint, prompt="none"))
    assert "code" in query(answer)


def test_someone_else_signed_in_gets_login_required_or_the_login_page(client, world, id_token_of):
    hint = id_token_of(world.alice)
    id_token_of(world.bob)  # bob is the one signed in now
    answer = client.get(authorize_path(world.acme.app, id_token_hint=hint, prompt="none"))
    assert query(answer)["error"] == ["login_required"]

    answer = client.get(authorize_path(world.acme.app, id_token_hint=hint))
    assert urlsplit(answer["Location"]).path == "/accounts/login/"
    next_url = parse_qs(urlsplit(answer["Location"]).query)["next"][0]
    assert "id_token_hint" not in next_url  # whoever signs in now is who the app gets


def test_a_hint_from_another_tenant_or_tampered_is_an_invalid_request(client, world, id_token_of):
    hint = id_token_of(world.alice)
    answer = client.get(authorize_path(world.bolt.app, id_token_hint=hint))
    assert answer["Location"].startswith("https://app.bolt.example/callback?")
    assert query(answer)["error"] == ["invalid_request"]
    assert "code" not in query(answer)

    header, payload, signature = hint.split(".")
    answer = client.get(authorize_path(world.acme.app, id_token_hint=f"{header}.{payload}.{signature[::-1]}"))
    assert query(answer)["error"] == ["invalid_request"]
    answer = client.get(authorize_path(world.acme.app, id_token_hint="not-a-jwt"))
    assert query(answer)["error"] == ["invalid_request"]
