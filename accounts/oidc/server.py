from oauthlib.oauth2.rfc6749.endpoints import AuthorizationEndpoint, ResourceEndpoint, TokenEndpoint
from oauthlib.openid import Server


class HubServer(Server):
    """oauthlib's OpenID Connect server with only what the hub offers routed.

    Anything else is then refused as unsupported (unsupported_response_type,
    unsupported_grant_type) rather than as not allowed for this client, and only
    opaque bearer tokens are accepted at protected endpoints: an ID token is no
    access token.
    """

    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
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
