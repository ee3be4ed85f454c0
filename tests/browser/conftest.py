"""A real browser against the live server: Playwright driving Debian's Chromium.

Playwright cannot download browsers here, so it drives the system's Chromium, which
`make test` installs. A missing browser fails the tests: it is never a reason to skip.
"""

import html
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from django.db import connections
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

from tenants.models import Client

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Tenant apps live on domains nobody resolves: the browser's requests to them are
# answered here, and the test reads the answer the hub sent off the URL.
APP_ORIGINS = re.compile(r"^https://[a-z.]+\.example/")
PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def app_pages() -> dict[str, str]:
    """The home page each tenant app shows, by host: a link that starts its sign-in."""
    return {}


@pytest.fixture
def browser_context(live_server, transactional_db, app_pages) -> BrowserContext:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium).", pytrace=False)

    def answer_as_the_app(route: Route) -> None:
        body = app_pages.get(urlsplit(route.request.url).netloc, "<h1>The app</h1>")
        route.fulfill(status=200, content_type="text/html", body=f"<!DOCTYPE html><title>App</title>{body}")

    # Playwright's sync API keeps an event loop running in this thread, and Django then
    # refuses the test's own (synchronous) database calls. Nothing here is async.
    with mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        context.route(APP_ORIGINS, answer_as_the_app)
        try:
            yield context
        finally:
            context.close()
            browser.close()
            # Database connections opened while Playwright ran belong to its context,
            # not to the test's: close them here, or they outlive the test database.
            connections.close_all()


@pytest.fixture
def page(browser_context) -> Page:
    return browser_context.new_page()


@dataclass
class Provider:
    issuer: str
    metadata: dict

    def endpoint(self, name: str) -> str:
        return self.metadata[name]


@pytest.fixture
def provider(live_server, transactional_db) -> Provider:
    response = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    return Provider(issuer=live_server.url, metadata=response.json())


@dataclass
class TenantApp:
    """A tenant's public app (a relying party using Authlib), and the sign-in it has started."""

    client: Client
    provider: Provider
    pages: dict[str, str]
    scope: str = "openid email"
    verifier: str = ""
    nonce: str = ""
    state: str = ""
    rp: OAuth2Session = field(init=False)

    def __post_init__(self) -> None:
        self.rp = OAuth2Session(
            self.client.client_id,
            token_endpoint_auth_method="none",
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )

    @property
    def redirect_uri(self) -> str:
        return self.client.redirect_uris.split()[0]

    def authorization_url(self, **params) -> str:
        self.verifier, self.nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, self.state = self.rp.create_authorization_url(
            self.provider.endpoint("authorization_endpoint"), code_verifier=self.verifier, nonce=self.nonce, **params
        )
        return url

    def start_sign_in(self, page: Page, **params) -> None:
        """Open the app and click its sign-in link, as a person would."""
        home = urlsplit(self.redirect_uri)
        self.pages[home.netloc] = f'<a href="{html.escape(self.authorization_url(**params))}">Sign in</a>'
        page.goto(f"{home.scheme}://{home.netloc}/")
        page.get_by_role("link", name="Sign in").click()

    def finish(self, callback_url: str) -> tuple[dict, CodeIDToken]:
        """Exchange the code the browser brought back; the tokens and the validated ID token."""
        token = self.rp.fetch_token(
            self.provider.endpoint("token_endpoint"), authorization_response=callback_url, code_verifier=self.verifier
        )
        keys = KeySet.import_key_set(requests.get(self.provider.endpoint("jwks_uri"), timeout=10).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            options={
                "iss": {"essential": True, "value": self.provider.issuer},
                "aud": {"essential": True, "value": self.client.client_id},
            },
            params={"nonce": self.nonce, "client_id": self.client.client_id, "access_token": token["access_token"]},
        )
        claims.validate()
        return dict(token), claims


@pytest.fixture
def tenant_app(provider, make_client, app_pages):
    apps = []

    def make(tenant, host: str, *, first_party: bool = True, name: str | None = None) -> TenantApp:
        client, _ = make_client(
            tenant,
            public=True,
            name=name or f"{tenant.name} app",
            redirect_uris=[f"https://{host}/callback"],
            post_logout_redirect_uris=[f"https://{host}/signed-out"],
            first_party=first_party,
        )
        app = TenantApp(client=client, provider=provider, pages=app_pages)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.rp.close()


@pytest.fixture
def dora(make_user):
    """A person with a password and a verified email, who signs in through the pages."""
    user = make_user("dora@example.org", password=PASSWORD, given_name="Dora")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def sign_in_on_the_page(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
