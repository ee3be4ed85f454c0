from oauthlib.oauth2.rfc6749.endpoints import AuthorizationEndpoint, ResourceEndpoint, TokenEndpoint
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
