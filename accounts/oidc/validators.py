"""The hub's rules for django-oauth-toolkit: who a client is, what it may do, what it is told."""

import base64
import binascii
import json
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from django.db import router, transaction
from django.db.models import F, Min
from django.utils import timezone
from jwcrypto import jws
from jwcrypto.common import JWException
from oauth2_provider.models import get_grant_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from accounts.models import Membership
from accounts.oidc.authorization_parameters import authorization_parameters_check
from accounts.oidc.backchannel import client_session_record
from accounts.oidc.claims import SUPPORTED_CLAIMS, session_id_for, subject_for, user_claims, user_claims_named
from accounts.oidc.jwt_tokens import (
    access_token_issued,
    access_token_revoked_with_client,
    access_token_verify,
    looks_like_jwt,
)
from accounts.oidc.machine_tokens import client_token_save
from accounts.oidc.requested_claims import (
    ClaimsRequest,
    MalformedClaimsRequest,
    claims_request_from,
    claims_request_json,
    userinfo_claims_request_carry,
    userinfo_claims_request_save,
    userinfo_claims_requested,
    with_acr_values,
)
from accounts.oidc.reuse_interval import (
    refresh_token_reuse_interval,
    refresh_token_sibling_save,
    refresh_token_spent,
    refresh_token_successor,
)
from accounts.oidc.revocation_list import jwt_access_token_revoke, jwt_sign_in_revoke, subject_token_revoked
from accounts.oidc.rotation import (
    refresh_token_family_revoke,
    refresh_token_found,
    refresh_token_rotate,
    rotation_supported,
    token_checksum,
)
from accounts.oidc.scopes import client_scopes
from accounts.services import membership_link
from harbourmaster.actors import Actor
from tenants.keys import signing_key_by_kid
from tenants.selectors import access_token_cache_forget, access_token_cache_prime, client_cached

# Only these: no implicit, no password, no device flow (RFC 9700).
OFFERED_GRANT_TYPES = {"authorization_code", "client_credentials", "refresh_token"}
# An access token is always issued with the ID token, so the profile claims are the
# userinfo endpoint's to give (Core 1.0, 5.4); the ID token says who and how, and holds
# profile claims only where the claims parameter asked for them there.
ID_TOKEN_CLAIMS = {"sub", "iss", "exp", "auth_time", "jti"}
# The grant's ``claims`` column carries the ``claims`` request parameter (Core 1.0, 5.5,
# as accounts.oidc.requested_claims reads it, with ``acr_values`` folded in) from the
# authorization to the token request, and next to it, under a key no claims request
# has, the sign-in facts.
AUTHENTICATION_KEY = "_authentication"
# ... and, once the code is exchanged, the rotation family of the tokens it bought, so a
# second exchange can revoke them (RFC 6749, 4.1.2). The row is kept, not deleted, until
# the code would have expired anyway; cleartokens removes it then.
REDEEMED_KEY = "_redeemed_by_token_family"


def client_credentials_of(
    authorization: str | None, client_id: str | None, client_secret: str | None
) -> tuple[str, str] | None:
    """The client's id and secret, from HTTP Basic if sent (RFC 6749, 2.3.1), else the body."""
    scheme, separator, basic = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not separator:  # the scheme's letter case is free (RFC 7617)
        if client_id and client_secret:
            return client_id, client_secret
        return None
    try:
        client_id, secret = base64.b64decode(basic, validate=True).decode("utf-8").split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    client_id = unquote_plus(client_id)
    if "\x00" in client_id:  # cannot be a client, and PostgreSQL text cannot hold it
        return None
    return client_id, unquote_plus(secret)


class HubOAuth2Validator(OAuth2Validator):
    # --- Clients -------------------------------------------------------------------

    def _load_application(self, client_id, request):
        """The client, from the cache (tenants.selectors); a disabled client, or one of a
        suspended tenant, is treated like one that does not exist."""
        if request.client is not None and getattr(request.client, "client_id", None) == client_id:
            return request.client
        return self._load_cached_client(client_id, request)

    def _load_cached_client(self, client_id, request):
        found = client_cached(client_id=client_id) if isinstance(client_id, str) else None
        request.client = found.client if found is not None and found.usable else None
        request.cached_client = found
        return request.client

    def _credentials(self, request) -> tuple[str, str] | None:
        return client_credentials_of(
            request.headers.get("HTTP_AUTHORIZATION"), request.client_id, request.client_secret
        )

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        """One of the client's active secrets (several overlap during a rotation)."""
        credentials = self._credentials(request)
        if credentials is None:
            return False
        client_id, secret = credentials
        if self._load_cached_client(client_id, request) is None:
            return False
        return request.cached_client.secret_matches(secret)

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:
        return grant_type in OFFERED_GRANT_TYPES and super().validate_grant_type(
            client_id, grant_type, client, request, *args, **kwargs
        )

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:
        # The server routes only "code", but oauthlib hands it "code id_token" (hybrid) too.
        if response_type != "code":
            raise errors.UnsupportedResponseTypeError(request=request)
        # Here, once the redirect URI is known: refusals go to the client, not to a page.
        authorization_parameters_check(request)
        _decode_claims_parameter(request)
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs) -> None:
        # Always ask for redirect_uri (OpenID Connect requires it; OAuth 2.1 too), so a
        # client is never sent somewhere it did not name.
        return None

    # --- Authorization requests ------------------------------------------------------

    def validate_silent_login(self, request) -> bool:
        # The authorization view sees the session, which oauthlib's request does not: it
        # answers login_required itself to anyone not signed in, or signed in too long ago.
        return True

    def validate_silent_authorization(self, request) -> bool:
        # prompt=none: only a first-party client signs a user in without asking them;
        # a third-party one gets consent_required (Core 1.0, 3.1.2.6).
        return bool(request.client and request.client.skip_authorization)

    # --- Authorization codes -------------------------------------------------------

    def save_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        requested = _requested_at_authorization(request)
        request.claims = {**requested.as_json(), AUTHENTICATION_KEY: _set_here(request, "authentication") or {}}
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
        if not request.user.is_active:  # deactivated between sign-in and exchange
            return False
        if _code_written_before_a_disable(code, client):
            return False
        if not _is_redeemed(request.claims):
            return True
        # A second exchange of one code: whoever holds the first tokens may have stolen
        # the code, so those tokens go too (RFC 6749, 4.1.2).
        _sign_in_revoke(_redeemed_family_of(request.claims), client=client, user=request.user)
        return False

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """Mark the code spent with the token family it bought; refuse a concurrent second spend."""
        family = _set_here(request, "issued_token_family")
        claims = {**(request.claims if isinstance(request.claims, dict) else {}), REDEEMED_KEY: str(family or "")}
        grants = get_grant_model().objects.filter(code=code, application=request.client)
        if grants.exclude(claims__contains=f'"{REDEEMED_KEY}"').update(claims=json.dumps(claims)):
            return
        # Another exchange of this code won the race: neither keeps its tokens.
        _sign_in_revoke(family, client=request.client, user=request.user)
        grant = grants.first()
        if grant is not None:
            get_refresh_token_model().revoke_family(_redeemed_family_of(json.loads(grant.claims or "{}")))
        raise _SpentWhileSaving(request=request)

    # --- Tokens ----------------------------------------------------------------------

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        # A new family is named by a time-ordered UUID, so the family's start (the sign-in)
        # is read from its name, without a query, on every refresh (_refresh_family_expired).
        # The toolkit reads only ``token_family`` from the previous token here.
        family_of = previous_refresh_token or _NewFamily(token_family=token_family_new())
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token, family_of)
        request.issued_token_family = refresh_token.token_family
        if previous_refresh_token is None:
            userinfo_claims_request_save(refresh_token=refresh_token, requested=_requested_of(request))
        else:
            userinfo_claims_request_carry(previous=previous_refresh_token, refresh_token=refresh_token)
        return refresh_token

    def save_bearer_token(self, token, request, *args, **kwargs):
        """A client's own token is committed without waiting for the disk (decision 22).

        A crash can lose only the last moments of such tokens, and a client whose token
        is unknown gets 401 and asks for a new one, so the token endpoint does not wait
        for a WAL flush per token. Tokens of a sign-in (codes, refresh rotation) are
        committed as usual: losing one of those would sign a person out. A refresh
        rotates in one statement where it can (decision 25).
        """
        if request.grant_type != "client_credentials":
            if _set_here(request, "refresh_token_successor") is not None:
                if not refresh_token_sibling_save(validator=self, token=token, request=request):
                    # Its successor was rotated or revoked meanwhile (two rotations back), or
                    # the sign-in holds as many live refresh tokens as it may.
                    refresh_token_family_revoke(request.refresh_token_instance)
                    _replayed_sign_in_listed(request)
                    raise _SpentWhileSaving(request=request)
                return None
            if self._rotates_in_one_statement(token, request):
                return self._save_rotated_tokens(token, request)
            return super().save_bearer_token(token, request, *args, **kwargs)
        return client_token_save(validator=self, token=token, request=request)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        if request.grant_type == "client_credentials":
            client_id = request.client.client_id
            transaction.on_commit(lambda: access_token_cache_prime(access_token=access_token, client_id=client_id))
        return access_token

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        access_token_cache_forget(raw_token=token)
        _sign_in_end_with_its_refresh_token(token, request)
        if looks_like_jwt(token):
            # Whatever its audience (RFC 8707 resources): the resource servers it names must hear.
            claims = access_token_verify(token, issuer=self.get_oidc_issuer_endpoint(request), for_the_hub=False)
            # Only the client the token was issued to may revoke it (RFC 7009, 2.1).
            if claims is not None and request.client is not None and claims.client_id == request.client.client_id:
                jwt_access_token_revoke(jti=claims.jti, expires=claims.expires)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """The toolkit's checks on a token read in one SELECT (accounts.oidc.rotation), and the hub's."""
        database = router.db_for_write(get_refresh_token_model())
        if not rotation_supported(using=database):
            spent = refresh_token_spent(raw_token=refresh_token) if refresh_token_reuse_interval(request) else None
            if spent is not None and self._reused_within_interval(spent, refresh_token, request):
                return self._may_still_refresh(request)
            return self._validate_refresh_token_by_the_toolkit(refresh_token, client, request, *args, **kwargs)
        found = refresh_token_found(raw_token=refresh_token, using=database)
        if found is None:
            return False
        if not found.is_live:
            if self._reused_within_interval(found.refresh_token, refresh_token, request):
                return self._may_still_refresh(request)
            # Spent or revoked: the toolkit's rules decide, and detect reuse. Rare.
            return self._validate_refresh_token_by_the_toolkit(refresh_token, client, request, *args, **kwargs)
        if found.outlived() or client is None or found.refresh_token.application_id != client.pk:
            return False
        request.user = found.refresh_token.user
        # The raw value, as the toolkit keeps it: the stored column is blank (RFC 9700).
        request.refresh_token = refresh_token
        request.refresh_token_instance = found.refresh_token
        request.refresh_token_found = found
        return self._may_still_refresh(request)

    def _reused_within_interval(self, spent, refresh_token, request) -> bool:
        """A token rotated moments ago and used again while its tenant allows that: a new pair
        beside the one it was rotated into (accounts.oidc.reuse_interval)."""
        successor = refresh_token_successor(spent=spent, request=request)
        if successor is None:
            return False
        request.user = spent.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = spent
        request.refresh_token_successor = successor
        return True

    def _sibling_after_a_lost_race(self, token, request) -> bool:
        """Two uses at once, within the tenant's reuse interval: the one whose rotation lost
        gets a pair beside the winner's, as if it had come a moment later."""
        spent = refresh_token_spent(raw_token=request.refresh_token)
        if spent is None or not self._reused_within_interval(spent, request.refresh_token, request):
            return False
        return refresh_token_sibling_save(validator=self, token=token, request=request)

    def _validate_refresh_token_by_the_toolkit(self, refresh_token, client, request, *args, **kwargs) -> bool:
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            _sign_in_listed_after_the_toolkits_reuse_detection(refresh_token)
            return False
        return self._may_still_refresh(request)

    def _may_still_refresh(self, request) -> bool:
        # The toolkit does not ask whether the user may still sign in: a deactivated
        # account's sessions at the apps end with its refresh tokens.
        if not request.user.is_active:
            return False
        # Written while its client was being disabled, after the disable revoked the rest
        # (tenants.services.client_disable): it dies with them, also once the client is enabled.
        issued = request.refresh_token_instance.created.timestamp()
        if request.client is not None and request.client.token_revoked(issued=issued):
            return False
        return not _refresh_family_expired(request.refresh_token_instance)

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        successor = _set_here(request, "refresh_token_successor")
        if successor is not None:  # the spent token's access token is gone: its successor's scope
            return successor.access_token.scope
        found = _set_here(request, "refresh_token_found")
        if found is not None:  # read with the refresh token
            return found.scope
        return super().get_original_scopes(refresh_token, request, *args, **kwargs)

    def _rotates_in_one_statement(self, token, request) -> bool:
        """A refresh validated by the one SELECT, minting the usual pair; else the toolkit's code."""
        return (
            _set_here(request, "refresh_token_found") is not None
            and self.rotate_refresh_token(request)
            and bool(token.get("refresh_token"))
            and "scope" in token
            and "id_token" not in token
        )

    def _save_rotated_tokens(self, token, request) -> None:
        """What the toolkit's _save_bearer_token does for a rotating refresh, in one statement."""
        found = request.refresh_token_found
        self._check_and_set_request_resource(request)  # RFC 8707: inherited or narrowed
        lifetime = token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        reuse_interval = refresh_token_reuse_interval(request)
        rotated = refresh_token_rotate(
            found=found,
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            scope=token["scope"],
            expires=timezone.now() + timedelta(seconds=lifetime),
            resource=request.resource,
            using=router.db_for_write(get_refresh_token_model()),
            family_revoked_if_spent=not reuse_interval,
        )
        if not rotated:  # used since it was read: a concurrent request or a replay
            if reuse_interval and self._sibling_after_a_lost_race(token, request):
                return
            if reuse_interval:
                refresh_token_family_revoke(found.refresh_token)
            _replayed_sign_in_listed(request)  # the rotation revoked the family, or the line above
            raise _SpentWhileSaving(request=request)
        request.issued_token_family = found.refresh_token.token_family
        request.refresh_token_instance = None  # spent, as the toolkit leaves it

    def validate_bearer_token(self, token, scopes, request) -> bool:
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if request.client is not None and not request.client.tenant.is_active:
            request.oauth2_error = OrderedDict([("error", "invalid_token")])
            return False
        client = request.client
        if (
            client is not None
            and client.tokens_revoked_before is not None  # only then is the token's row read
            and access_token_revoked_with_client(token, client=client, created=request.access_token.created.timestamp())
        ):
            # Issued before a disable of its client, which was enabled since (decision 27).
            request.oauth2_error = OrderedDict([("error", "invalid_token")])
            return False
        if request.user is not None and not request.user.is_active:  # a deactivated account's token
            request.oauth2_error = OrderedDict([("error", "invalid_token")])
            return False
        if request.user is not None and _revoked_with_its_subject(token, request):
            # Signed out everywhere, or deactivated and since reactivated (decision 27).
            request.oauth2_error = OrderedDict([("error", "invalid_token")])
            return False
        return True

    def refresh_id_token(self, request) -> bool:
        # A refreshed ID token would have to repeat the original auth_time, which only
        # the authorization code carried; Core 1.0, 12.2 lets the response go without.
        return False

    # --- ID tokens and claims --------------------------------------------------------

    def get_oidc_claims(self, token, token_handler, request) -> dict:
        # The token's scopes as the client and its tenant allow them now: a tenant that
        # narrows its scopes is obeyed at once by tokens issued before (decision 20).
        scopes = set(request.scopes or []) & client_scopes(request.client)
        return user_claims(user=request.user, tenant=request.client.tenant, scopes=scopes)

    def get_userinfo_claims(self, request) -> dict:
        claims = super().get_userinfo_claims(request)
        names = userinfo_claims_requested(access_token=request.access_token)
        if not names:
            return claims
        # Besides what the scopes give, what the claims parameter asked for (Core 1.0, 5.5).
        return {**user_claims_named(user=request.user, names=names, scopes=client_scopes(request.client)), **claims}

    def get_discovery_claims(self, request) -> list[str]:
        return [*SUPPORTED_CLAIMS, "acr"]

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        claims = {name: value for name, value in claims.items() if name in ID_TOKEN_CLAIMS}
        authentication = _authentication_of(request)
        if authentication.get("auth_time"):
            claims["auth_time"] = authentication["auth_time"]
        if authentication.get("amr"):
            claims["amr"] = authentication["amr"]
        if authentication.get("session"):
            claims["sid"] = session_id_for(hub_session_id=authentication["session"], tenant=request.client.tenant)
        return {**claims, **_requested_id_token_claims(request, authentication)}, expiration_time

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        id_token = super()._save_id_token(jti, request, expires, *args, **kwargs)
        # Whom to tell when this hub session ends (Back-Channel Logout, decision 19).
        client_session_record(
            hub_session_id=_authentication_of(request).get("session"), client=request.client, user_id=request.user.pk
        )
        return id_token

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


def _code_written_before_a_disable(code: str, client) -> bool:
    """A code whose sign-in committed after its client's disable ended the others
    (tenants.services.client_disable) dies with them, also once the client is enabled.
    A code lives a minute: only a disable within the last minute is worth the read."""
    revoked_before = client.tokens_revoked_before
    lifetime = timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS + 1)
    if revoked_before is None or revoked_before < timezone.now() - lifetime:
        return False
    written = get_grant_model().objects.filter(code=code, application=client).values_list("created", flat=True)
    return any(client.token_revoked(issued=created.timestamp()) for created in written)


def _revoked_with_its_subject(token: str, request) -> bool:
    """Whether a user's token predates a sign-out everywhere of that user at this client's
    tenant, as the revocation list tells resource servers (decision 27)."""
    client = request.client
    issued = access_token_issued(token, created=request.access_token.created.timestamp())
    subject = subject_for(user=request.user, tenant=client.tenant)
    return subject_token_revoked(client_id=client.client_id, subject=subject, issued=issued)


def _decode_claims_parameter(request) -> None:
    """Decode and check the claims parameter once the redirect URI is known.

    oauthlib decodes it later itself, but answers bad JSON with an error that names no
    redirect URI, which the toolkit cannot send anywhere (a 500), and takes any JSON.
    Here, bad JSON or the wrong shape is an invalid_request at the client's redirect
    URI; oauthlib then leaves the decoded object as it is.
    """
    if not isinstance(request.claims, str) or not request.claims:
        return
    try:
        request.claims = claims_request_json(request.claims)
    except MalformedClaimsRequest as error:
        raise errors.InvalidRequestError(request=request, description=str(error)) from None


def _requested_at_authorization(request) -> ClaimsRequest:
    """The claims parameter and ``acr_values`` of an OpenID Connect authorization request."""
    if "openid" not in (request.scopes or []):
        return ClaimsRequest()
    try:
        requested = claims_request_from(request.claims)
    except MalformedClaimsRequest:  # refused before, by validate_response_type
        return ClaimsRequest()
    return with_acr_values(requested, getattr(request, "acr_values", None))


def _requested_of(request) -> ClaimsRequest:
    """The claims request the grant kept (``request.claims`` at the token endpoint)."""
    try:
        return claims_request_from(request.claims)
    except MalformedClaimsRequest:
        return ClaimsRequest()


def _requested_id_token_claims(request, authentication: dict) -> dict:
    """What the claims parameter asked the ID token for: profile claims the client's scopes
    cover, and ``acr`` (also asked for by ``acr_values``), the level the sign-in reached."""
    requested = _requested_of(request).id_token
    if not requested:
        return {}
    claims = user_claims_named(user=request.user, names=requested, scopes=client_scopes(request.client))
    if "acr" in requested and authentication.get("acr"):
        claims["acr"] = authentication["acr"]
    return claims


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
    family = refresh_token.token_family
    if family and family.version == UUID7_VERSION:
        started = min(started, datetime.fromtimestamp((family.int >> 80) / 1000, tz=UTC))
    elif family:  # named before families were time-ordered
        members = get_refresh_token_model().objects.filter(token_family=family)
        started = members.aggregate(first=Min("created"))["first"] or started
    return started + timedelta(seconds=lifetime) <= timezone.now()


UUID7_VERSION = 7


def _sign_in_end_with_its_refresh_token(token: str, request) -> None:
    """A revoked refresh token ends its whole sign-in at that app (RFC 7009, 2.1 allows it):
    a pair a reuse interval issued beside it (decision 30) goes too. Only the client's own."""
    client_pk = getattr(request.client, "pk", None)
    if client_pk is None:
        return
    revoked = (
        get_refresh_token_model()
        .objects.filter(token_checksum=token_checksum(token), application_id=client_pk)
        .select_related("user")
        .only("token_family", "user")
        .first()
    )
    if revoked is not None and revoked.token_family is not None:
        _sign_in_revoke(revoked.token_family, client=request.client, user=revoked.user)


def _sign_in_revoke(token_family, *, client, user) -> None:
    """End a sign-in at the hub (its refresh tokens revoked, its access tokens deleted) and
    at the resource servers that check JWT access tokens themselves: the hub keeps no
    ``jti``, so the user is listed at that client, every token issued up to now (decision
    27, amendment). Opaque tenants pay nothing more."""
    get_refresh_token_model().revoke_family(token_family)
    jwt_sign_in_revoke(client=client, user=user)


def _replayed_sign_in_listed(request) -> None:
    """A refresh token used again ended its sign-in (reuse detection, decisions 25 and 30):
    its JWT access tokens go on the list too, as _sign_in_revoke does."""
    if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
        jwt_sign_in_revoke(client=request.client, user=request.user)


def _sign_in_listed_after_the_toolkits_reuse_detection(refresh_token: str) -> None:
    """The toolkit refused a refresh token; if it was spent or revoked, the toolkit revoked
    its family (reuse protection), whichever client sent it: that family's user is listed at
    the token's own client. Only refused refreshes pay this read."""
    if not oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
        return
    refused = (  # the row the toolkit read: a live one first, else the last revoked
        get_refresh_token_model()
        .objects.filter(token_checksum=token_checksum(refresh_token))
        .select_related("application__tenant", "user")
        .order_by(F("revoked").desc(nulls_first=True))
        .first()
    )
    if refused is not None and refused.revoked is not None and refused.token_family is not None:
        jwt_sign_in_revoke(client=refused.application, user=refused.user)


def _set_here(request, name: str):
    """An attribute the hub set on oauthlib's request, or None. Not ``getattr``: oauthlib's
    Request answers a missing attribute with the request parameter of that name, which a
    caller may post (``refresh_token_found=x``)."""
    return vars(request).get(name)


class _SpentWhileSaving(errors.InvalidGrantError):
    """invalid_grant for a code or refresh token found spent as its tokens are saved: oauthlib answers it without its usual JSON
    headers (it raises past the grant), so they are given here, as the client expects."""

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "Content-Type": "application/json", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class _NewFamily:
    token_family: uuid.UUID


def token_family_new(at: datetime | None = None) -> uuid.UUID:
    """A family name that says when the family began: an RFC 9562 version 7 UUID (48 bits
    of Unix milliseconds, then random bits)."""
    milliseconds = int(at.timestamp() * 1000) if at else time.time_ns() // 1_000_000
    value = milliseconds << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | UUID7_VERSION << 76  # version
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return uuid.UUID(int=value)
