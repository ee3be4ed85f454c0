"""Which scopes a client may ask for: its own list, within what its tenant allows."""

from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings

from tenants.models import Client
from tenants.scopes import API_SCOPES
from tenants.selectors import tenant_effective_config


def client_scopes(client: Client) -> set[str]:
    """A sign-in client gets its scopes ∩ its tenant's; a machine client its API scopes."""
    allowed = set(client.allowed_scopes)
    if client.authorization_grant_type == Client.GRANT_CLIENT_CREDENTIALS:
        return allowed & set(API_SCOPES)
    allowed &= set(tenant_effective_config(tenant=client.tenant)["allowed_scopes"])
    if not client.algorithm:
        allowed.discard("openid")  # it could not be given a signed ID token
    return allowed


class ClientScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        return {**oauth2_settings.SCOPES, **API_SCOPES}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        # Without a client this answers discovery: the sign-in scopes the hub knows.
        if application is None:
            return list(oauth2_settings.SCOPES)
        return sorted(client_scopes(application))

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        # A machine client that names no scope gets all of its own; a sign-in client
        # gets plain OpenID Connect sign-in, and must ask for more.
        if application is None:
            return []
        available = client_scopes(application)
        if application.authorization_grant_type == Client.GRANT_CLIENT_CREDENTIALS:
            return sorted(available)
        return sorted(available & {"openid"})
