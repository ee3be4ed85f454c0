"""django-oauth-toolkit's views, told about the hub's keys, claims and tenants."""

import functools
import json
from urllib.parse import urlencode

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import View
from oauth2_provider import views as oauth2_views
from oauth2_provider.compat import login_not_required
from oauth2_provider.exceptions import InvalidOIDCClientError
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from oauthlib.common import add_params_to_uri

from accounts.oidc.introspection import access_token_introspect
from tenants.keys import signing_key_current, signing_keys_published
from tenants.models import Client


def _no_store(response):
    # Tokens and personal data: never in a shared or browser cache (RFC 6749, 5.1).
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def refuse_nul_parameters(view):
    """Answer invalid_request to a parameter holding NUL, which no valid one does.

    PostgreSQL text cannot hold NUL, so such a value (a client_id, code or nonce) would
    otherwise fail in the database as a 500. A plain wrapper, so the view keeps the
    attributes its decorators set (csrf_exempt).
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        values = [value for query in (request.GET, request.POST) for _, values in query.lists() for value in values]
        if any("\x00" in value for value in values):
            error = {"error": "invalid_request", "error_description": "a parameter holds a NUL character"}
            return _no_store(JsonResponse(error, status=400))
        return view(request, *args, **kwargs)

    return wrapped


class DiscoveryView(oauth2_views.ConnectDiscoveryInfoView):
    """The toolkit's document, corrected for keys kept in the database and the grants offered."""

    def get(self, request, *args, **kwargs):
        document = json.loads(super().get(request, *args, **kwargs).content)
        document.update(
            id_token_signing_alg_values_supported=[Client.RS256_ALGORITHM],
            grant_types_supported=oauth2_settings.OAUTH2_GRANT_TYPES_SUPPORTED,
            response_modes_supported=["query"],
            revocation_endpoint=self._get_endpoint_url(request, "revoke-token", required=True),
            introspection_endpoint=self._get_endpoint_url(request, "introspect", required=True),
            claims_parameter_supported=False,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
        )
        response = JsonResponse(document)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class JwksView(oauth2_views.JwksInfoView):
    """Every key a relying party may meet: the next one, the current one, recently retired ones."""

    def get(self, request, *args, **kwargs):
        signing_key_current()  # a fresh install publishes its first key before anyone signs
        keys = [
            {"alg": key.algorithm, "use": "sig", "kid": key.kid, **json.loads(key.jwk.export_public())}
            for key in signing_keys_published()
        ]
        response = JsonResponse({"keys": keys})
        response["Access-Control-Allow-Origin"] = "*"
        # A new key is published this long before it signs (tenants.keys), so a cached
        # copy always holds the key of any token a relying party receives.
        response["Cache-Control"] = f"public, max-age={oauth2_settings.OIDC_JWKS_MAX_AGE_SECONDS}"
        return response


class AuthorizationView(oauth2_views.AuthorizationView):
    def error_response(self, error, application, **kwargs):
        # RFC 9207 asks for iss on error responses too; the toolkit adds it on success only.
        response = super().error_response(error, application, **kwargs)
        if response.status_code == 302:
            issuer = oauth2_settings.oauth2_authorization_server_issuer(self.request)
            response["Location"] = add_params_to_uri(response["Location"], [("iss", issuer)])
        return response


class TokenView(oauth2_views.TokenView):
    def post(self, request, *args, **kwargs):
        # No device flow: its grant type goes to oauthlib like any other the client may
        # not use (the toolkit's device branch answers 404, or 500 without device_code).
        # oauthlib marks successful responses no-store; errors get it here too.
        return _no_store(self.authorization_flow_token_response(request, *args, **kwargs))


class UserInfoView(oauth2_views.UserInfoView):
    def get(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            # A token in a URL ends up in logs and histories (RFC 9700, 4.3.2).
            error = {
                "error": "invalid_request",
                "error_description": "send the access token in the Authorization header",
            }
            return _no_store(JsonResponse(error, status=400))
        return _no_store(super().get(request, *args, **kwargs))

    def post(self, request, *args, **kwargs):
        return _no_store(super().post(request, *args, **kwargs))


class LogoutView(oauth2_views.RPInitiatedLogoutView):
    def get_request_application(self, id_token, client_id):
        # The toolkit lets an unknown client_id escape as a 500.
        try:
            return super().get_request_application(id_token, client_id)
        except Client.DoesNotExist:
            raise InvalidOIDCClientError() from None


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class IntrospectTokenView(OAuthLibMixin, View):
    """RFC 7662 for a tenant's confidential clients, about their own tenant's tokens only.

    The toolkit's view answers any token to any caller holding an "introspection"
    token; here the caller authenticates as a client, and another tenant's token is
    as unknown as one that never existed.
    """

    def post(self, request, *args, **kwargs):
        client = self._authenticated_client(request)
        if client is None:
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="harbourmaster"'
            return _no_store(response)
        token = request.POST.get("token")
        if not token:
            return _no_store(
                JsonResponse({"error": "invalid_request", "error_description": "token is missing"}, status=400)
            )
        answer = access_token_introspect(token=token, tenant=client.tenant)
        return _no_store(JsonResponse(answer))

    def _authenticated_client(self, request) -> Client | None:
        core = self.get_oauthlib_core()
        oauthlib_request = OauthlibRequest(
            request.build_absolute_uri(),
            request.method,
            urlencode(core.extract_body(request)),
            core.extract_headers(request),
        )
        if core.server.request_validator.authenticate_client(oauthlib_request):
            return oauthlib_request.client
        return None
