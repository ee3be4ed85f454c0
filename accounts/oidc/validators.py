"""The hub's rules for django-oauth-toolkit: who a client is, what it may do, what it is told."""

import base64
import binascii
import json
import uuid
from collections import OrderedDict
from datetime import timedelta
from urllib.parse import unquote_plus

from django.db.models import Min
from django.utils import timezone
from jwcrypto import jws
from jwcrypto.common import JWException
from oauth2_provider.models import get_grant_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from accounts.models import Membership
from accounts.oidc.claims import SUPPORTED_CLAIMS, user_claims
from accounts.services import membership_link
from harbourmaster.actors import Actor
from tenants.keys import signing_key_by_kid
from tenants.selectors import client_secret_verify

# Only these: no implicit, no password, no device flow (RFC 9700).
OFFERED_GRANT_TYPES = {"authorization_code", "client_credentials", "refresh_token"}
# An access token is always issued with the ID token, so the profile claims are the
# userinfo endpoint's to give (Core 1.0, 5.4); the ID token says who and how.
ID_TOKEN_CLAIMS = {"sub", "iss", "exp", "auth_time", "jti"}
# The grant's ``claims`` column carries the sign-in facts from the authorization to the
# token request. The hub does not honour the ``claims`` request parameter
# (claims_parameter_supported is false), so nothing else is kept there.
AUTHENTICATION_KEY = "_authentication"
# ... and, once the code is exchanged, the rotation family of the tokens it bought, so a
# second exchange can revoke them (RFC 6749, 4.1.2). The row is kept, not deleted, until
# the code would have expired anyway; cleartokens removes it then.
REDEEMED_KEY = "_redeemed_by_token_family"


class HubOAuth2Validator(OAuth2Validator):
    # --- Clients -------------------------------------------------------------------

    def _load_application(self, client_id, request):
        """A client of a suspended tenant is treated like one that does not exist."""
        client = super()._load_application(client_id, request)
        if client is not None and not client.tenant.is_active:
            request.client = None
            return None
        return client

    def _credentials(self, request) -> tuple[str, str] | None:
        """The client's id and secret, from HTTP Basic if sent (RFC 6749, 2.3.1), else the body."""
        basic = self._extract_basic_auth(request)
        if basic is None:
            if request.client_id and request.client_secret:
                return request.client_id, request.client_secret
            return None
        try:
            client_id, secret = base64.b64decode(basic, validate=True).decode("utf-8").split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        client_id = unquote_plus(client_id)
        if "\x00" in client_id:  # cannot be a client, and PostgreSQL text cannot hold it
            return None
        return client_id, unquote_plus(secret)

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        """One of the client's active secrets (several overlap during a rotation)."""
        credentials = self._credentials(request)
        if credentials is None:
            return False
        client_id, secret = credentials
        client = self._load_application(client_id, request)
        return client is not None and client_secret_verify(client=client, provided=secret)

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:
        return grant_type in OFFERED_GRANT_TYPES and super().validate_grant_type(
            client_id, grant_type, client, request, *args, **kwargs
        )

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:
        # The server routes only "code", but oauthlib hands it "code id_token" (hybrid) too.
        if response_type != "code":
            raise errors.UnsupportedResponseTypeError(request=request)
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs) -> None:
        # Always ask for redirect_uri (OpenID Connect requires it; OAuth 2.1 too), so a
        # client is never sent somewhere it did not name.
        return None

    # --- Authorization requests ------------------------------------------------------

    def validate_silent_authorization(self, request) -> bool:
        # prompt=none: only a first-party client signs a user in without asking them;
        # a third-party one gets consent_required (Core 1.0, 3.1.2.6).
        return bool(request.client and request.client.skip_authorization)

    # --- Authorization codes -------------------------------------------------------

    def save_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        request.claims = {AUTHENTICATION_KEY: getattr(request, "authentication", None) or {}}
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        membership_link(
            actor=Actor.user(request.user),
            user=request.user,
            tenant=request.client.tenant,
            source=Membership.Source.SIGN_IN,
        )

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        if not _is_redeemed(request.claims):
            return True
        # A second exchange of one code: whoever holds the first tokens may have stolen
        # the code, so those tokens go too (RFC 6749, 4.1.2).
        get_refresh_token_model().revoke_family(_redeemed_family_of(request.claims))
        return False

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """Mark the code spent with the token family it bought; refuse a concurrent second spend."""
        family = getattr(request, "issued_token_family", None)
        claims = {**(request.claims if isinstance(request.claims, dict) else {}), REDEEMED_KEY: str(family or "")}
        grants = get_grant_model().objects.filter(code=code, application=request.client)
        if grants.exclude(claims__contains=f'"{REDEEMED_KEY}"').update(claims=json.dumps(claims)):
            return
        # Another exchange of this code won the race: neither keeps its tokens.
        get_refresh_token_model().revoke_family(family)
        grant = grants.first()
        if grant is not None:
            get_refresh_token_model().revoke_family(_redeemed_family_of(json.loads(grant.claims or "{}")))
        raise errors.InvalidGrantError(request=request)

    # --- Tokens ----------------------------------------------------------------------

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        request.issued_token_family = refresh_token.token_family
        return refresh_token

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        return not _refresh_family_expired(request.refresh_token_instance)

    def validate_bearer_token(self, token, scopes, request) -> bool:
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if request.client is not None and not request.client.tenant.is_active:
            request.oauth2_error = OrderedDict([("error", "invalid_token")])
            return False
        return True

    def refresh_id_token(self, request) -> bool:
        # A refreshed ID token would have to repeat the original auth_time, which only
        # the authorization code carried; Core 1.0, 12.2 lets the response go without.
        return False

    # --- ID tokens and claims --------------------------------------------------------

    def get_oidc_claims(self, token, token_handler, request) -> dict:
        return user_claims(user=request.user, tenant=request.client.tenant, scopes=request.scopes)

    def get_discovery_claims(self, request) -> list[str]:
        return list(SUPPORTED_CLAIMS)

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        claims = {name: value for name, value in claims.items() if name in ID_TOKEN_CLAIMS}
        authentication = _authentication_of(request)
        if authentication.get("auth_time"):
            claims["auth_time"] = authentication["auth_time"]
        if authentication.get("amr"):
            claims["amr"] = authentication["amr"]
        return claims, expiration_time

    def _get_key_for_token(self, token):
        """The key named by the token's ``kid``: retired keys still verify our own tokens."""
        try:
            signed = jws.JWS()
            signed.deserialize(token)
            kid = signed.jose_header.get("kid")
        except (JWException, ValueError, TypeError):
            return None
        key = signing_key_by_kid(kid) if isinstance(kid, str) else None
        return key.jwk if key else None


def _authentication_of(request) -> dict:
    claims = request.claims if isinstance(request.claims, dict) else {}
    authentication = claims.get(AUTHENTICATION_KEY)
    return authentication if isinstance(authentication, dict) else {}


def _is_redeemed(claims) -> bool:
    return isinstance(claims, dict) and REDEEMED_KEY in claims


def _redeemed_family_of(claims) -> uuid.UUID | None:
    value = claims.get(REDEEMED_KEY) if isinstance(claims, dict) else None
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _refresh_family_expired(refresh_token) -> bool:
    """Whether the sign-in this refresh token descends from is older than the refresh lifetime.

    Rotation makes a new token each time, so the family's first token dates the sign-in.
    It outlives the lifetime: cleartokens removes a revoked token only
    REFRESH_TOKEN_EXPIRE_SECONDS after it was revoked.
    """
    lifetime = oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS
    if not lifetime:
        return False
    started = refresh_token.created
    if refresh_token.token_family:
        family = get_refresh_token_model().objects.filter(token_family=refresh_token.token_family)
        started = family.aggregate(first=Min("created"))["first"] or started
    return started + timedelta(seconds=lifetime) <= timezone.now()
