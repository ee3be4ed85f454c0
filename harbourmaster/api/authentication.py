"""Bearer-token authentication for the tenant API.

Every call carries an access token issued to one of a tenant's clients by the
client-credentials grant. The token names the client; the client names the tenant.
"""

import hashlib
from dataclasses import dataclass

from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

REALM = "harbourmaster-api"


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who is calling: the client, its tenant and the scopes the token carries."""

    client: object
    tenant: object
    scopes: frozenset[str]
    token_id: int

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The access token is missing, malformed, expired or revoked."
    default_code = "invalid_token"


def _token_load(raw_token: str):
    checksum = hashlib.sha256(raw_token.encode("utf-8")).hexdigest()
    return (
        get_access_token_model().objects.select_related("application__tenant").filter(token_checksum=checksum).first()
    )


class ClientTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise InvalidToken()
        try:
            raw_token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken() from None
        token = _token_load(raw_token)
        if token is None or token.expires <= timezone.now() or token.user_id is not None:
            raise InvalidToken()
        client = token.application
        if client is None or client.is_disabled or not client.tenant.is_active:
            raise InvalidToken()
        caller = ApiCaller(
            client=client, tenant=client.tenant, scopes=frozenset(token.scope.split()), token_id=token.pk
        )
        return (None, caller)

    def authenticate_header(self, request):
        return f'Bearer realm="{REALM}"'
