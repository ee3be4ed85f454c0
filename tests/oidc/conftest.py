"""An OpenID Connect relying party's view of the hub: a live server and Authlib.

The live server runs in a thread of its own, so these tests commit their data
(``transactional_db``) for it to see.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from django.test import Client as DjangoTestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tenants.models import Client


@dataclass
class Provider:
    """The hub as a relying party finds it: its issuer and discovery document."""

    issuer: str
    metadata: dict

    def endpoint(self, name: str) -> str:
        return self.metadata[name]

    def keys(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.endpoint("jwks_uri"), timeout=10).json())

    def decode(self, id_token: str) -> jwt.Token:
        return jwt.decode(id_token, self.keys(), algorithms=["RS256"])


@pytest.fixture
def provider(live_server, transactional_db) -> Provider:
    response = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    return Provider(issuer=live_server.url, metadata=response.json())


@pytest.fixture
def browser(live_server):
    """A browser session signed in as ``user`` (Django's force_login, its cookie handed over)."""

    sessions = []

    def sign_in(user) -> requests.Session:
        django_client = DjangoTestClient()
        django_client.force_login(user)
        session = requests.Session()
        for name, morsel in django_client.cookies.items():
            session.cookies.set(name, morsel.value)
        sessions.append(session)
        return session

    yield sign_in
    # A kept-alive connection would keep a server thread, and its database session, open.
    for session in sessions:
        session.close()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(location).query).items()}


def relying_party(client: Client, secret: str | None = None, scope: str = "openid profile email") -> OAuth2Session:
    return OAuth2Session(
        client.client_id,
        secret,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        scope=scope,
        redirect_uri=client.redirect_uris.split()[0],
        code_challenge_method="S256",
    )


@dataclass
class SignIn:
    """One completed authorization-code flow: what the relying party holds afterwards."""

    rp: OAuth2Session
    token: dict
    nonce: str
    verifier: str


@pytest.fixture
def sign_in(provider, browser):
    """Run authorization code + PKCE for ``user`` at ``client`` with Authlib; return the tokens."""

    parties = []

    def run(client: Client, user, *, secret: str | None = None, scope: str = "openid profile email") -> SignIn:
        rp = relying_party(client, secret, scope)
        parties.append(rp)
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(
            provider.endpoint("authorization_endpoint"), code_verifier=verifier, nonce=nonce
        )
        response = browser(user).get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:500]
        assert query_of(response.headers["Location"])["state"] == state
        token = rp.fetch_token(
            provider.endpoint("token_endpoint"),
            authorization_response=response.headers["Location"],
            code_verifier=verifier,
        )
        return SignIn(rp=rp, token=dict(token), nonce=nonce, verifier=verifier)

    yield run
    for rp in parties:
        rp.close()
