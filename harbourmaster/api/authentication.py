"""Bearer-token authentication for the tenant API.

Every call carries an access token issued to one of a tenant's clients by the
client-credentials grant. The token names the client; the client names the tenant.

A call costs one cache round trip when its token was seen before by this process: the
token (its presence says it is not revoked), its client (with the tenant's status and
config) and the address's bad-token count come back in one MGET. Revocation, disabling
and suspension write over those entries (tenants.selectors), so they apply at once; a
token issued before its client's last disable stays dead after an enable, by the moment
the cached client carries (``Client.tokens_revoked_before``). The same round trip counts the call against its rate limits only if it will be served
(harbourmaster.api.throttling): a revoked token replayed spends no tenant's budget.

A token asked for other resources (RFC 8707 ``resource``) is theirs, not the hub's: a JWT
says so in ``aud``, an opaque token's cache entry carries its resources, so neither costs
more than the round trip above.
"""

from django.core.cache import cache
from django.http import HttpRequest
from oauth2_provider.settings import oauth2_settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.oidc.jwt_tokens import access_token_verify, looks_like_jwt
from accounts.oidc.revocation_list import revoked_jti_cache_key
from harbourmaster.api.caller import ApiCaller
from harbourmaster.api.throttling import (
    Counted,
    cache_read_counting,
    counted_undo,
    failed_authentication_key,
    failed_authentication_note,
    failed_authentication_wait,
)
from harbourmaster.client_address import client_address_key
from tenants.selectors import (
    access_token_cache_key,
    access_token_checksum,
    access_token_from_cache_entry,
    client_cache_key,
    client_from_cache_entry,
    client_of_token_known,
    client_of_token_remember,
)

REALM = "harbourmaster-api"


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The access token is missing, malformed, expired or revoked."
    default_code = "invalid_token"


def _raw_token(header: list[bytes]) -> str | None:
    if len(header) != 2:
        return None
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError:
        return None


def _read(keys: list[str], failures_key: str, client_id: str | None = None, **must) -> tuple[dict, Counted | None]:
    """One MGET (counting the call too, if the client is known and the token is not seen
    revoked: ``must``, see cache_read_counting); refused at once if the address behind
    ``failures_key`` spent its budget."""
    found, counted = cache_read_counting(keys, client_id, failures_key=failures_key, **must)
    wait = failed_authentication_wait(found.get(failures_key))
    if wait is not None:
        raise exceptions.Throttled(wait=wait)
    return found, counted


def _served(caller: "ApiCaller | None", counted: Counted | None) -> "ApiCaller | None":
    """Give back a count taken with the read for a call refused after it (a client disabled,
    a tenant suspended, a token expired: what the script cannot see), or counted for
    other counters than the caller's, which the throttle then counts itself."""
    if counted is not None and (caller is None or caller.counted is not counted):
        counted_undo(counted)
    return caller


def _api_caller(cached, scope: str, token_id: int | None, counted: Counted | None) -> ApiCaller:
    client = cached.client
    return ApiCaller(
        client=client,
        tenant=client.tenant,
        scopes=frozenset(scope.split()),
        token_id=token_id,
        tenant_config=cached.tenant_config,
        counted=counted,
    )


class ClientTokenAuthentication(BaseAuthentication):
    """Bearer tokens of client-credentials clients. An address that keeps sending bad
    tokens is throttled before its tokens are even looked up."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        address = client_address_key(request)
        raw_token, failures_key = _raw_token(header), failed_authentication_key(address)
        if raw_token is not None and looks_like_jwt(raw_token):
            caller = self._jwt_caller(raw_token, failures_key, oauth2_settings.oidc_issuer(request._request))
        else:
            caller = self._caller(raw_token, failures_key, request._request)
        if caller is None:
            failed_authentication_note(address)
            raise InvalidToken()
        return (None, caller)

    def _caller(self, raw_token: str | None, failures_key: str, request: HttpRequest) -> "ApiCaller | None":
        checksum = access_token_checksum(raw_token) if raw_token else ""
        token_key = access_token_cache_key(checksum)
        known_client = client_of_token_known(checksum)
        keys = [failures_key, token_key] + ([client_cache_key(known_client)] if known_client else [])
        found, counted = _read(keys, failures_key, known_client, live_key=token_key)
        return _served(self._token_caller(raw_token, checksum, found, counted, known_client, request), counted)

    def _token_caller(
        self,
        raw_token: str | None,
        checksum: str,
        found: dict,
        counted: Counted | None,
        known_client: str | None,
        request: HttpRequest,
    ) -> "ApiCaller | None":
        if raw_token is None:
            return None
        token_key = access_token_cache_key(checksum)
        token = access_token_from_cache_entry(checksum=checksum, entry=found.get(token_key))
        if token is None or token.expired or token.user_id is not None:
            return None
        # Asked for other resources (RFC 8707): theirs, as a JWT's aud would say. The
        # issuer is worked out only for such a token.
        if token.resource and not token.is_for(oauth2_settings.oidc_issuer(request)):
            return None
        client_of_token_remember(checksum, token.client_id)
        client_key = client_cache_key(token.client_id)
        client_entry = found[client_key] if client_key in found else cache.get(client_key)
        cached = client_from_cache_entry(client_id=token.client_id, entry=client_entry)
        if cached is None or not cached.usable or cached.client.token_revoked(issued=token.issued):
            return None
        return _api_caller(cached, token.scope, token.token_id, counted if token.client_id == known_client else None)

    def _jwt_caller(self, raw_token: str, failures_key: str, issuer: str) -> "ApiCaller | None":
        """A JWT access token is checked here, by its signature; what can change about it
        (revoked, client disabled or disabled since it was issued, tenant suspended) comes
        from the cache in one MGET."""
        claims = access_token_verify(raw_token, issuer=issuer)
        if claims is None or not claims.is_machine_token:
            _read([failures_key], failures_key)
            return None
        revoked_key, client_key = revoked_jti_cache_key(claims.jti), client_cache_key(claims.client_id)
        found, counted = _read(
            [failures_key, revoked_key, client_key], failures_key, claims.client_id, absent_key=revoked_key
        )
        if revoked_key in found:
            return None
        cached = client_from_cache_entry(client_id=claims.client_id, entry=found.get(client_key))
        # Issued before a disable of its client: dead, also once the client is enabled again.
        if cached is None or not cached.usable or cached.client.token_revoked(issued=claims.issued):
            return _served(None, counted)
        return _api_caller(cached, claims.scope, None, counted)

    def authenticate_header(self, request):
        return f'Bearer realm="{REALM}"'
