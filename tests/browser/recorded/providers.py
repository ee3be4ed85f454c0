"""Google's, Facebook's and Apple's side of a sign-in, as their documentation records it.

This machine cannot reach the providers, so their answers are replayed at the HTTP
boundary: ``responses`` answers the hub's server-to-server calls (token, userinfo, keys)
the way each provider's docs show, and checks each request as the provider would (the
code it issued, the client's secret or signed client assertion, PKCE). ``authorize``
is where the provider sends the browser back once the person has agreed (Google,
Facebook), and ``consent_page`` the provider's page that asks them: a link back, or for
Apple a form the browser posts to the hub's callback.

Sources: developers.google.com/identity/openid-connect/openid-connect,
developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow,
developer.apple.com/documentation/sign_in_with_apple (Generate and validate tokens).
"""

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
FACEBOOK_AUTHORIZE = "https://www.facebook.com/v19.0/dialog/oauth"
FACEBOOK_TOKEN = "https://graph.facebook.com/v19.0/oauth/access_token"
FACEBOOK_ME = "https://graph.facebook.com/v19.0/me"
APPLE_AUTHORIZE = "https://appleid.apple.com/auth/authorize"
APPLE_TOKEN = "https://appleid.apple.com/auth/token"
APPLE_KEYS = "https://appleid.apple.com/auth/keys"


@dataclass
class Person:
    """Who the provider says signed in."""

    sub: str
    email: str
    email_verified: bool = True
    given_name: str = "Pat"
    family_name: str = "Provider"

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass
class ProviderApp:
    """The app an operator registered at the provider: what goes into the hub's SocialApp."""

    client_id: str
    secret: str
    key: str = ""  # Apple: the team id
    settings: dict = field(default_factory=dict)


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# The providers' signing keys, made once per test run; their public halves are "published".
GOOGLE_SIGNING_KEY = _rsa_key()
APPLE_SIGNING_KEY = _rsa_key()
APPLE_KID = "YuyXoY"


def apple_developer_key() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The .p8 key Apple gives a developer to sign client secrets: its PEM and the key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), key


def _form(request) -> dict[str, str]:
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return {name: values[-1] for name, values in parse_qs(body).items()}


def _query(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


def _link_page(title: str, url: str) -> str:
    return f'<!DOCTYPE html><title>{title}</title><a href="{html.escape(url)}">Continue</a>'


def _json(status: int, body: dict) -> tuple[int, dict, str]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)


class Issued:
    """Authorization codes a provider handed out, each good once for one redirect URI."""

    def __init__(self) -> None:
        self.codes: dict[str, dict] = {}

    def code(self, *, redirect_uri: str, code_challenge: str | None = None) -> str:
        code = "4/0A" + secrets.token_urlsafe(40)
        self.codes[code] = {"redirect_uri": redirect_uri, "code_challenge": code_challenge}
        return code

    def redeem(self, code: str, redirect_uri: str, verifier: str | None) -> bool:
        issued = self.codes.pop(code, None)
        if issued is None or issued["redirect_uri"] != redirect_uri:
            return False
        if issued["code_challenge"] is None:
            return True
        digest = hashlib.sha256((verifier or "").encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == issued["code_challenge"]


# --- Google ------------------------------------------------------------------------------


class Google:
    def __init__(self, app: ProviderApp, person: Person) -> None:
        self.app, self.person, self.issued = app, person, Issued()

    def authorize(self, url: str) -> str:
        """Where Google sends the browser back once the person picked an account and agreed."""
        asked = _query(url)
        assert asked["client_id"] == self.app.client_id and asked["response_type"] == "code"
        code = self.issued.code(redirect_uri=asked["redirect_uri"], code_challenge=asked.get("code_challenge"))
        scope = "email profile openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"
        answer = {"state": asked["state"], "code": code, "scope": scope, "authuser": "0", "prompt": "consent"}
        return f"{asked['redirect_uri']}?{urlencode(answer)}"

    def consent_page(self, url: str) -> str:
        return _link_page("Google", self.authorize(url))

    def id_token(self, access_token: str) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "azp": self.app.client_id,
            "aud": self.app.client_id,
            "sub": self.person.sub,
            "email": self.person.email,
            "email_verified": self.person.email_verified,
            "at_hash": _at_hash(access_token),
            "name": self.person.name,
            "picture": "https://lh3.googleusercontent.com/a/ACg8ocK-example=s96-c",
            "given_name": self.person.given_name,
            "family_name": self.person.family_name,
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, GOOGLE_SIGNING_KEY, algorithm="RS256", headers={"kid": "d7b939771a7800c4"})

    def token(self, request) -> tuple[int, dict, str]:
        form = _form(request)
        if form.get("client_id") != self.app.client_id or form.get("client_secret") != self.app.secret:
            return _json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("grant_type") != "authorization_code" or not self.issued.redeem(
            form.get("code", ""), form.get("redirect_uri", ""), form.get("code_verifier")
        ):
            return _json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        access_token = "ya29.a0" + secrets.token_urlsafe(60)
        scope = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"
        return _json(
            200,
            {
                "access_token": access_token,
                "expires_in": 3599,
                "scope": scope,
                "token_type": "Bearer",
                "id_token": self.id_token(access_token),
            },
        )

    def record(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.POST, GOOGLE_TOKEN, callback=self.token)


# --- Facebook ----------------------------------------------------------------------------


class Facebook:
    def __init__(self, app: ProviderApp, person: Person) -> None:
        self.app, self.person, self.issued = app, person, Issued()
        self.access_tokens: set[str] = set()

    def authorize(self, url: str) -> str:
        asked = _query(url)
        assert asked["client_id"] == self.app.client_id and asked["response_type"] == "code"
        code = self.issued.code(redirect_uri=asked["redirect_uri"], code_challenge=asked.get("code_challenge"))
        # Facebook appends an empty fragment to the redirect.
        return f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}#_=_"

    def consent_page(self, url: str) -> str:
        return _link_page("Facebook", self.authorize(url))

    def token(self, request) -> tuple[int, dict, str]:
        asked = _query(request.url)
        if asked.get("client_id") != self.app.client_id or asked.get("client_secret") != self.app.secret:
            error = {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}
            return _json(400, {"error": error})
        if not self.issued.redeem(asked.get("code", ""), asked.get("redirect_uri", ""), None):
            error = {"message": "This authorization code has been used.", "type": "OAuthException", "code": 100}
            return _json(400, {"error": error})
        access_token = "EAAG" + secrets.token_urlsafe(120)
        self.access_tokens.add(access_token)
        return _json(200, {"access_token": access_token, "token_type": "bearer", "expires_in": 5183944})

    def me(self, request) -> tuple[int, dict, str]:
        asked = _query(request.url)
        token = asked.get("access_token", "")
        proof = hmac.new(self.app.secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if token not in self.access_tokens or asked.get("appsecret_proof") != proof:
            error = {"message": "Invalid OAuth access token data.", "type": "OAuthException", "code": 190}
            return _json(400, {"error": error})
        person = {
            "id": self.person.sub,
            "email": self.person.email,
            "name": self.person.name,
            "first_name": self.person.given_name,
            "last_name": self.person.family_name,
        }
        return _json(200, {name: person[name] for name in asked["fields"].split(",") if name in person})

    def record(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.GET, FACEBOOK_TOKEN, callback=self.token)
        rsps.add_callback(responses.GET, FACEBOOK_ME, callback=self.me)


# --- Apple -------------------------------------------------------------------------------


class Apple:
    """Sign in with Apple. ``developer_key`` verifies the client secrets the hub signs."""

    def __init__(self, app: ProviderApp, person: Person, developer_key: ec.EllipticCurvePrivateKey) -> None:
        self.app, self.person, self.issued = app, person, Issued()
        self.developer_public_key = developer_key.public_key()

    def consent_page(self, url: str) -> str:
        """Apple's page once the person agreed: a form the browser posts to the hub's callback."""
        asked = _query(url)
        assert asked["client_id"] == self.app.client_id and asked["response_mode"] == "form_post"
        code = "c" + secrets.token_hex(32) + ".0.rsvx." + secrets.token_urlsafe(20)
        self.issued.codes[code] = {"redirect_uri": asked["redirect_uri"], "code_challenge": None}
        # On the first sign-in only, Apple adds the name and email the person chose to share.
        user = {
            "name": {"firstName": self.person.given_name, "lastName": self.person.family_name},
            "email": self.person.email,
        }
        fields = {"state": asked["state"], "code": code, "user": json.dumps(user)}
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">' for name, value in fields.items()
        )
        return (
            f'<!DOCTYPE html><title>Apple</title><form method="post" action="{html.escape(asked["redirect_uri"])}">'
            f'{inputs}<button type="submit">Continue</button></form>'
        )

    def id_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://appleid.apple.com",
            "aud": self.app.client_id,
            "exp": now + 600,
            "iat": now,
            "sub": self.person.sub,
            "at_hash": secrets.token_urlsafe(16),
            "email": self.person.email,
            "email_verified": "true" if self.person.email_verified else "false",
            "is_private_email": "true" if self.person.email.endswith("@privaterelay.appleid.com") else "false",
            "auth_time": now,
            "nonce_supported": True,
        }
        return jwt.encode(claims, APPLE_SIGNING_KEY, algorithm="RS256", headers={"kid": APPLE_KID})

    def _client_secret_valid(self, form: dict[str, str]) -> bool:
        try:
            header = jwt.get_unverified_header(form.get("client_secret", ""))
            claims = jwt.decode(
                form["client_secret"],
                self.developer_public_key,
                algorithms=["ES256"],
                audience="https://appleid.apple.com",
                issuer=self.app.key,
            )
        except (jwt.PyJWTError, KeyError):
            return False
        return header.get("kid") == self.app.secret and claims["sub"] == self.app.client_id == form.get("client_id")

    def token(self, request) -> tuple[int, dict, str]:
        form = _form(request)
        if not self._client_secret_valid(form):
            return _json(400, {"error": "invalid_client"})
        if form.get("grant_type") != "authorization_code" or not self.issued.redeem(
            form.get("code", ""), form.get("redirect_uri", ""), None
        ):
            return _json(400, {"error": "invalid_grant"})
        return _json(
            200,
            {
                "access_token": "a" + secrets.token_hex(32) + ".0.rsvx." + secrets.token_urlsafe(20),
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "r" + secrets.token_hex(32) + ".0.rsvx." + secrets.token_urlsafe(20),
                "id_token": self.id_token(),
            },
        )

    def keys(self, request) -> tuple[int, dict, str]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(APPLE_SIGNING_KEY.public_key()))
        return _json(200, {"keys": [{"kty": "RSA", "kid": APPLE_KID, "use": "sig", "alg": "RS256", **public}]})

    def record(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.POST, APPLE_TOKEN, callback=self.token)
        rsps.add_callback(responses.GET, APPLE_KEYS, callback=self.keys)


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
