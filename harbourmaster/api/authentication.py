"""Bearer-token authentication for the tenant API.

Every call carries an access token issued to one of a tenant's clients by the
client-credentials grant. The token names the client; the client names the tenant.
"""

import hashlib

from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from harbourmaster.api.caller import ApiCaller
from harbourmaster.api.throttling import failed_authentication_note, failed_authentication_wait

REALM = "harbourmaster-api"


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The access token is missing, malformed, expired or revoked."
    default_code = "invalid_token"


def _token_load(raw_token: str):
    checksum = hashlib.sha256(raw_token.encode("utf-8")).hexdigest()
    return (
        get_access_token_model().objects.select_related("application__tenant").filter(token_checksum=checksum).first()
    )


class ClientTokenAuthentication(BaseAuthentication):
    """Bearer tokens of client-credentials clients. An address that keeps sending bad
    tokens is throttled before its tokens are even looked up."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        ip_address = request.META.get("REMOTE_ADDR", "")
        wait = failed_authentication_wait(ip_address)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        caller = self._caller(header)
        if caller is None:
            failed_authentication_note(ip_address)
            raise InvalidToken()
        return (None, caller)

    def _caller(self, header: list[bytes]) -> "ApiCaller | None":
        if len(header) != 2:
            return None
        try:
            raw_token = header[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        token = _token_load(raw_token)
        if token is None or token.expires <= timezone.now() or token.user_id is not None:
            return None
        client = token.application
        if client is None or client.is_disabled or not client.tenant.is_active:
            return None
        return ApiCaller(client=client, tenant=client.tenant, scopes=frozenset(token.scope.split()), token_id=token.pk)

    def authenticate_header(self, request):
        return f'Bearer realm="{REALM}"'
