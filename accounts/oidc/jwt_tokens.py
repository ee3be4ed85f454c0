"""JWT access tokens (RFC 9068), for tenants whose config asks for them.

A tenant with ``"access_token_format": "jwt"`` gets access tokens that a resource server
can check on its own: signed by the hub's current signing key (the JWKS publishes it),
``typ: at+jwt``, with iss, sub, aud, client_id, exp, iat, jti and scope. The token is
also stored like an opaque one (its SHA-256), so introspection, revocation and the
toolkit's housekeeping treat both alike; a revoked JWT's ``jti`` is published until its
``exp`` (accounts.oidc.revocation_list) for the resource servers that do not ask.
"""

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from jwcrypto import jwk, jws
from jwcrypto.common import JWException, json_decode
from oauthlib.oauth2.rfc6749.tokens import random_token_generator

from accounts.oidc.claims import subject_for
from tenants.keys import signing_key_by_kid, signing_key_current
from tenants.selectors import tenant_effective_config

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type (RFC 9068), not a secret
FORMAT_JWT = "jwt"
# A process signs with the key it read for this long: a new key is published (JWKS max
# age) before it signs and a retired one stays published after, so this is always safe.
SIGNING_KEY_SECONDS = 60
_signing = {"key": None, "read_at": 0.0}
# Public keys by kid, to verify; a kid always names the same key.
_verifying: dict[str, jwk.JWK] = {}


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


def _tenant_wants_jwt(request) -> bool:
    cached = getattr(request, "cached_client", None)
    if cached is not None and cached.client.pk == request.client.pk:
        config = cached.tenant_config
    else:
        config = tenant_effective_config(tenant=request.client.tenant)
    return config.get("access_token_format") == FORMAT_JWT


def _current_signing_key():
    if _signing["key"] is None or time.monotonic() - _signing["read_at"] > SIGNING_KEY_SECONDS:
        key = signing_key_current()
        _signing.update(key=(key.kid, key.algorithm, key.jwk), read_at=time.monotonic())
    return _signing["key"]


def signing_key_forget() -> None:
    """Read the current signing key again on the next token (tests wipe the keys between them)."""
    _signing.update(key=None, read_at=0.0)


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


def access_token_sign(claims: dict[str, Any]) -> str:
    kid, algorithm, key = _current_signing_key()
    token = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    token.add_signature(key, alg=algorithm, protected={"alg": algorithm, "kid": kid, "typ": TOKEN_TYPE})
    return token.serialize(compact=True)


class AccessTokenGenerator:
    """oauthlib's token generator: a JWT for tenants that asked, a random string otherwise."""

    def __init__(self, request_validator):
        self.request_validator = request_validator

    def __call__(self, request) -> str:
        if request.client is None or not _tenant_wants_jwt(request):
            return random_token_generator(request)
        return access_token_sign(_claims(request, self.request_validator.get_oidc_issuer_endpoint(request)))


def _verifying_key(kid: str) -> jwk.JWK | None:
    if kid not in _verifying:
        key = signing_key_by_kid(kid)
        if key is None:
            return None
        _verifying[kid] = jwk.JWK.from_json(key.jwk.export_public())
    return _verifying[kid]


def access_token_verify(token: str, *, issuer: str) -> AccessTokenClaims | None:
    """The claims of a live JWT access token the hub signed for ``issuer``, else None.

    Revocation is not checked here: the caller asks the revocation list, together with
    whatever else it reads (one round trip).
    """
    try:
        signed = jws.JWS()
        signed.deserialize(token)
        header = signed.jose_header
        key = _verifying_key(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if key is None or header.get("typ") != TOKEN_TYPE:
            return None
        signed.verify(key, alg=header.get("alg"))
        claims = json_decode(signed.payload)
    except (JWException, ValueError, TypeError):
        return None
    return _checked(claims, issuer)


def _checked(claims: Any, issuer: str) -> AccessTokenClaims | None:
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
    if found.expires <= time.time() or issuer not in found.audience:
        return None
    return found
