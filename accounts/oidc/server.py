from oauthlib.oauth2.rfc6749.endpoints import AuthorizationEndpoint, ResourceEndpoint, TokenEndpoint
from oauthlib.oauth2.rfc6749.errors import InsufficientScopeError, InvalidTokenError
from oauthlib.oauth2.rfc6749.tokens import BearerToken
from oauthlib.openid import Server

from accounts.oidc.jwt_tokens import AccessTokenGenerator, random_token


class HubServer(Server):
    """oauthlib's OpenID Connect server with only what the hub offers routed.

    Anything else is then refused as unsupported (unsupported_response_type,
    unsupported_grant_type) rather than as not allowed for this client, and only
    opaque bearer tokens are accepted at protected endpoints: an ID token is no
    access token. Access tokens are JWTs for tenants that ask (accounts.oidc.jwt_tokens);
    refresh tokens are always random strings.
    """

    def __init__(self, request_validator, *args, token_expires_in=None, **kwargs):
        super().__init__(request_validator, *args, token_expires_in=token_expires_in, **kwargs)
        # oauthlib's UserInfoEndpoint.__init__ (run last) replaces ``bearer`` with one that
        # knows neither the generators nor the lifetime; this one issues every token.
        self.bearer = BearerToken(
            request_validator,
            token_generator=AccessTokenGenerator(request_validator),
            expires_in=token_expires_in,
            refresh_token_generator=random_token,
        )
        AuthorizationEndpoint.__init__(
            self,
            default_response_type="code",
            response_types={"code": self.auth_grant_choice},
            default_token_type=self.bearer,
        )
        TokenEndpoint.__init__(
            self,
            default_grant_type="authorization_code",
            grant_types={
                "authorization_code": self.token_grant_choice,
                "client_credentials": self.credentials_grant,
                "refresh_token": self.refresh_grant,
            },
            default_token_type=self.bearer,
        )
        ResourceEndpoint.__init__(self, default_token="Bearer", token_types={"Bearer": self.bearer})  # noqa: S106 - a token type, not a secret
        # oauthlib keeps a scope named twice ("openid openid") twice, in the token and its row.
        for grant in (self.credentials_grant, self.refresh_grant):
            grant.custom_validators.post_token.append(_each_scope_once)
        for grant in (self.auth_grant, self.openid_connect_auth):
            grant.custom_validators.post_auth.append(lambda request: _each_scope_once(request) or {})

    def validate_userinfo_request(self, request):
        """oauthlib's checks, in the order RFC 6750, 3.1 and Core 1.0, 5.3.3 ask: a token
        that is dead, or speaks for no user (a client's own), is invalid_token (401); a live
        one granted without ``openid`` is insufficient_scope (403). oauthlib checks the token
        for ``openid`` first, so that one got invalid_token, and an app told its token is dead
        refreshes it or signs the user in again, to meet the same answer."""
        request.scopes = []  # any live token; then the scopes it was granted
        if not self.bearer.validate_request(request) or request.user is None:
            raise InvalidTokenError()
        if "openid" not in request.scopes:
            raise _OpenIDScopeMissing()


def _each_scope_once(request) -> None:
    if request.scopes:
        request.scopes = list(dict.fromkeys(request.scopes))


class _OpenIDScopeMissing(InsufficientScopeError):
    """oauthlib challenges only its 401s; RFC 6750, 3 asks the 403 for one too."""

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'}
