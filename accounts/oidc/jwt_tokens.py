"""JWT access tokens (RFC 9068), for tenants whose config asks for them.

A tenant with ``"access_token_format": "jwt"`` gets access tokens that a resource server
can check on its own: signed by the hub's current signing key of the algorithm the tenant
chose (``access_token_signing_alg``: RS256, or ES256, decision 21; the JWKS publishes both),
``typ: at+jwt``, with iss, sub, aud, client_id, exp, iat, jti and scope. The token is
also stored like an opaque one (its SHA-256), so introspection, revocation and the
toolkit's housekeeping treat both alike; a revoked JWT's ``jti`` is published until its
``exp`` (accounts.oidc.revocation_list) for the resource servers that do not ask, and so
is its ``client_id`` and ``sub`` (as one digest) when its user is deactivated or signed out
everywhere: every token of theirs whose ``iat`` is not after that moment is dead (decision 27).
"""

import json
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidTokenError

from accounts.oidc.claims import subject_for
from tenants.keys import PROCESS_KEY_CACHE_SECONDS, signing_key_by_kid, signing_key_current
from tenants.models import SigningKey
from tenants.selectors import request_tenant_config

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type (RFC 9068), not a secret
FORMAT_JWT = "jwt"
DEFAULT_ALGORITHM = SigningKey.Algorithm.RS256
# A process signs with the key it read for this long, and never past a retirement it
# read: a new key is published (JWKS max age) before it signs and a retired one stays
# published for this long more than its tokens live (tenants.keys), so this is safe.
SIGNING_KEY_SECONDS = PROCESS_KEY_CACHE_SECONDS
# The keys live in jwcrypto (tenants.keys); the per-token work is PyJWT's, on the
# cryptography key objects: a third of jwcrypto's cost for ES256 (decision 21).
_JWS = PyJWS()
PrivateKey = RSAPrivateKey | EllipticCurvePrivateKey
PublicKey = RSAPublicKey | EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class _SigningKey:
    kid: str
    algorithm: str
    key: PrivateKey
    read_at: float  # time.monotonic()
    retires_at: float  # time.time(), infinity for a key not retiring


@dataclass(frozen=True, slots=True)
class _VerifyingKey:
    algorithm: str
    key: PublicKey


# The key each wanted algorithm is signed with now, by that algorithm.
_signing: dict[str, _SigningKey] = {}
# Public keys by kid, to verify; a kid always names the same key.
_verifying: dict[str, _VerifyingKey] = {}


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    jti: str
    client_id: str
    subject: str
    scope: str
    audience: tuple[str, ...]
    expires: int
    issued: int

    @property
    def is_machine_token(self) -> bool:
        # RFC 9068, 2.2: a token of the client-credentials grant names the client as sub.
        return self.subject == self.client_id


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def _tenant_signing_algorithm(request) -> str | None:
    """The algorithm of the tenant's JWT access tokens; None for opaque tokens."""
    config = request_tenant_config(request)
    if config.get("access_token_format") != FORMAT_JWT:
        return None
    return config.get("access_token_signing_alg", DEFAULT_ALGORITHM)


def _signing_key_read(algorithm: str) -> _SigningKey:
    key = signing_key_current(algorithm)
    retires_at = key.retired_at.timestamp() if key.retired_at else math.inf
    return _SigningKey(key.kid, key.algorithm, key.jwk.get_op_key("sign"), time.monotonic(), retires_at)


def _current_signing_key(algorithm: str) -> _SigningKey:
    found = _signing.get(algorithm)
    if found is None or time.monotonic() - found.read_at > SIGNING_KEY_SECONDS or time.time() >= found.retires_at:
        found = _signing[algorithm] = _signing_key_read(algorithm)
    return found


def signing_key_forget() -> None:
    """Read the current signing keys again on the next token (tests wipe the keys between them)."""
    _signing.clear()
    _verifying.clear()


def _claims(request, issuer: str) -> dict[str, Any]:
    now = int(time.time())
    client = request.client
    user = getattr(request, "user", None)
    subject = subject_for(user=user, tenant=client.tenant) if user is not None else client.client_id
    return {
        "iss": issuer,
        "sub": subject,
        "aud": list(getattr(request, "resource", None) or []) or issuer,
        "client_id": client.client_id,
        "exp": now + int(request.expires_in),
        "iat": now,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(request.scopes or []),
    }


def access_token_sign(claims: dict[str, Any], *, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """Sign with the current key of ``algorithm`` (RS256 while a first ES256 key is still
    being published ahead: tenants.keys.signing_key_current)."""
    signing = _current_signing_key(algorithm)
    payload = json.dumps(claims, separators=(",", ":")).encode()
    headers = {"kid": signing.kid, "typ": TOKEN_TYPE}
    return _JWS.encode(payload, signing.key, algorithm=signing.algorithm, headers=headers)


def random_token(request=None) -> str:
    """An opaque token: 256 random bits from one read of the OS's generator (oauthlib's own
    generator makes a system call per character)."""
    return secrets.token_urlsafe(32)


class AccessTokenGenerator:
    """oauthlib's token generator: a JWT for tenants that asked, a random string otherwise."""

    def __init__(self, request_validator):
        self.request_validator = request_validator

    def __call__(self, request) -> str:
        algorithm = _tenant_signing_algorithm(request) if request.client is not None else None
        if algorithm is None:
            return random_token(request)
        issuer = self.request_validator.get_oidc_issuer_endpoint(request)
        # The audience is the token's RFC 8707 resources as the toolkit will store them:
        # the parameter as a list, or what the code or refresh token was limited to.
        self.request_validator._check_and_set_request_resource(request)
        return access_token_sign(_claims(request, issuer), algorithm=algorithm)


def _verifying_key(kid: str) -> _VerifyingKey | None:
    if kid not in _verifying:
        key = signing_key_by_kid(kid)
        if key is None:
            return None
        _verifying[kid] = _VerifyingKey(key.algorithm, key.jwk.get_op_key("verify"))
    return _verifying[kid]


def access_token_verify(token: str, *, issuer: str, for_the_hub: bool = True) -> AccessTokenClaims | None:
    """The claims of a live JWT access token the hub signed for ``issuer``, else None.

    ``for_the_hub``: only a token whose audience is the hub itself (its API, userinfo); a
    token the hub issued for other resources (RFC 8707) is genuine too, and can be revoked.
    Revocation is not checked here: the caller asks the revocation list, together with
    whatever else it reads (one round trip).
    """
    try:
        header = _JWS.get_unverified_header(token)
        key = _verifying_key(header.get("kid")) if isinstance(header.get("kid"), str) else None
        # The key says the algorithm, never the token: no downgrade by a forged header.
        if key is None or header.get("typ") != TOKEN_TYPE or header.get("alg") != key.algorithm:
            return None
        claims = json.loads(_JWS.decode_complete(token, key.key, algorithms=[key.algorithm])["payload"])
    except (InvalidTokenError, ValueError, TypeError):
        return None
    return _checked(claims, issuer, for_the_hub)


def access_token_issued(token: str, *, created: float) -> int:
    """When a token of the hub's was issued, as a resource server compares it with the
    revocation list: a JWT's ``iat``, else when its row was written (``created``)."""
    issued = access_token_issued_at(token) if looks_like_jwt(token) else None
    return int(created) if issued is None else issued


def access_token_revoked_with_client(token: str, *, client, created: float) -> bool:
    """Whether the token predates the last disable of its client (``tokens_revoked_before``,
    as the revocation list tells resource servers), also once the client is enabled again.
    A JWT's ``iat`` is read only for a client ever disabled."""
    if client.tokens_revoked_before is None:
        return False
    return client.token_revoked(issued=access_token_issued(token, created=created))


def access_token_issued_at(token: str) -> int | None:
    """The ``iat`` of a JWT access token already found among the hub's own by its checksum
    (so genuine: its signature is not checked again); None if it has none."""
    try:
        payload = _JWS.decode_complete(token, options={"verify_signature": False})["payload"]
        return int(json.loads(payload)["iat"])
    except (InvalidTokenError, ValueError, TypeError, KeyError):
        return None


def _checked(claims: Any, issuer: str, for_the_hub: bool) -> AccessTokenClaims | None:
    if not isinstance(claims, dict) or claims.get("iss") != issuer:
        return None
    audience = claims.get("aud")
    audience = tuple(audience) if isinstance(audience, list) else (audience,)
    try:
        found = AccessTokenClaims(
            jti=str(claims["jti"]),
            client_id=str(claims["client_id"]),
            subject=str(claims["sub"]),
            scope=str(claims.get("scope", "")),
            audience=audience,
            expires=int(claims["exp"]),
            issued=int(claims["iat"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if found.expires <= time.time() or (for_the_hub and issuer not in found.audience):
        return None
    return found
