"""OpenAPI descriptions drf-spectacular cannot infer on its own."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "harbourmaster.api.authentication.ClientTokenAuthentication"
    name = "clientCredentials"

    def get_security_definition(self, auto_schema):
        from tenants.scopes import API_SCOPES

        return {
            "type": "oauth2",
            "description": "A bearer token from the client-credentials grant at /o/token/.",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": API_SCOPES}},
        }
