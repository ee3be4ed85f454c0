"""django-oauth-toolkit's views, told about the hub's keys, claims and tenants."""

import functools
import json
import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import View
from oauth2_provider import views as oauth2_views
from oauth2_provider.compat import login_not_required
from oauth2_provider.exceptions import InvalidOIDCClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views.oidc import _load_id_token, _validate_claims
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2.rfc6749.errors import ConsentRequired, InvalidRequestError, LoginRequired

from accounts.oidc.acr import ACR_VALUES_SUPPORTED
from accounts.oidc.authentication import session_authentication
from accounts.oidc.authorization_parameters import max_age_seconds
from accounts.oidc.introspection import client_authenticated, introspection_for_client
from accounts.oidc.step_up import acr_requirement_response
from accounts.oidc.validators import client_credentials_of
from accounts.signin.context import requesting_client, signin_context_for_client, tenant_display_name
from accounts.signin.guest import guest_refusal, guest_requirement_response
from accounts.signin.mfa import mfa_requirement_response
from accounts.signin.policy import session_meets_login_methods
from accounts.signin.reauthentication import reauthentication_response
from tenants.keys import signing_key_current, signing_keys_published
from tenants.models import Client


def _no_store(response):
    # Tokens and personal data: never in a shared or browser cache (RFC 6749, 5.1).
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _errors_labelled(response):
    # oauthlib's error bodies are JSON; the toolkit's HttpResponse says text/html.
    if response.status_code >= 400:
        response["Content-Type"] = "application/json"
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
            prompt_values_supported=["none", "login", "consent"],
            # The claims parameter and acr_values (accounts.oidc.requested_claims, decision 20).
            claims_parameter_supported=True,
            acr_values_supported=ACR_VALUES_SUPPORTED,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
            # Back-Channel Logout 1.0 (accounts.oidc.backchannel); logout tokens always carry sid.
            backchannel_logout_supported=True,
            backchannel_logout_session_supported=True,
        )
        response = JsonResponse(document)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class ServerMetadataView(oauth2_views.OAuthServerMetadataView):
    """RFC 8414 metadata, corrected as DiscoveryView is where the toolkit's says otherwise.

    Introspection answers only a client that proves a secret (IntrospectTokenView), so it
    does not offer ``none``; answers come in the query only, and RFC 8414, 2 reads a missing
    ``response_modes_supported`` as "query and fragment".
    """

    def get(self, request, *args, **kwargs):
        document = json.loads(super().get(request, *args, **kwargs).content)
        document.update(
            introspection_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            response_modes_supported=["query"],
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


class NotFramed:
    """Pages a user acts on never load inside another site's frame (clickjacking).

    X-Frame-Options DENY is set for every response already; CSP says the same to
    browsers that have moved on from it.
    """

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        return response


class _ConsentToBeAsked(Exception):
    """prompt=consent met a client that would have been let through without asking."""


def _prompt(request) -> set[str]:
    # A space-separated, case-sensitive list (Core 1.0, 3.1.2.1).
    return set(request.GET.get("prompt", "").split())


def _max_age(request) -> int | None:
    return max_age_seconds(request.GET.get("max_age"))


# The consent form's fields the toolkit's form_valid uses in place of the query's, when set.
CONSENT_FORM_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "scope",
    "nonce",
    "claims",
    "code_challenge",
    "code_challenge_method",
    "resource",
)


class AuthorizationView(NotFramed, oauth2_views.AuthorizationView):
    """The toolkit's authorization endpoint, with prompt and max_age (Core 1.0, 3.1.2.1).

    prompt=none never shows a page. prompt=login, and a sign-in older than max_age, send
    a signed-in user to sign in again by a method they have and the tenant takes
    (decision 34) and anyone else to the login page; they come back without those parameters, so they are asked once, and the ID
    token's auth_time tells the client when it happened. prompt=consent shows the
    consent page even where a first-party client would be let through.
    """

    def get(self, request, *args, **kwargs):
        if request.GET.get("id_token_hint"):
            response = self._id_token_hint(request)
            if response is not None:
                return response
        if request.user.is_authenticated:
            response = self._signin_requirements(request)
            if response is not None:
                return response
        if request.user.is_authenticated and "max_age" in request.GET and "login" not in _prompt(request):
            response = self._enforce_max_age(request)
            if response is not None:
                return response
        try:
            return super().get(request, *args, **kwargs)
        except _ConsentToBeAsked:
            return self.render_to_response(self.get_context_data(**self.oauth2_data))

    def _id_token_hint(self, request):
        """id_token_hint names who the app expects (Core 1.0, 3.1.2.1).

        A hint this hub did not issue to this tenant is an invalid_request. Someone else
        signed in: prompt=none gets login_required; otherwise the login page, from which
        the request goes on without the hint (the app compares the sub it gets).
        """
        client = requesting_client(request.get_full_path())
        if client is None:
            return None
        id_token, claims = _load_id_token(request.GET["id_token_hint"])
        if (
            id_token is None
            or not _validate_claims(request, claims)
            or id_token.application.tenant_id != client.tenant_id
        ):
            try:
                _scopes, credentials = self.validate_authorization_request(request)
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
            error = InvalidRequestError(
                description="id_token_hint is not an ID token of this tenant", state=credentials["state"]
            )
            return self._redirect_error(error, credentials)
        if not request.user.is_authenticated or id_token.user_id == request.user.pk:
            return None
        if "none" in _prompt(request):
            return self._login_required()
        return redirect_to_login(self._return_path(), resolve_url(settings.LOGIN_URL), "next")

    def post(self, request, *args, **kwargs):
        """The consent form's answer. It names its client and request in its own fields, which
        anyone can post: the tenant's sign-in rules the page's GET applied must hold for them
        too, or the form would issue a code to any session (a password alone at an MFA
        tenant, a guest where guests are not taken). If they do not, or the client is
        unknown, the same request goes to the GET, which says what is missing.

        A two-factor demand (``acr_values``, ``acr`` in ``claims``) is the request's: the page
        posts back to the request's own address, and the toolkit reads ``acr_values`` from
        there and ``claims`` from the form when it is not empty; it is checked here from the
        same places. A crafted POST that leaves it out is a request without
        it, as a GET without it would be: the ID token then has no ``acr`` claim, which an app
        that asked for two factors must find (Core 1.0, 3.1.2.1); ``max_age`` likewise, with
        ``auth_time``."""
        if not request.user.is_authenticated:
            return super().post(request, *args, **kwargs)  # the toolkit sends them to sign in
        parameters = request.GET.copy()  # what oauthlib reads the request's demands from
        for name in CONSENT_FORM_FIELDS:  # what the toolkit takes from the form instead, when given
            if request.POST.get(name):
                parameters[name] = request.POST[name]
        as_asked = f"{request.path}?{parameters.urlencode()}"
        client = requesting_client(as_asked)
        if client is None or self._signin_requirements_unmet(request, client, parameters):
            return HttpResponseRedirect(as_asked, status=303)
        return super().post(request, *args, **kwargs)

    def _signin_requirements(self, request):
        """The tenant's sign-in rules for a session opened elsewhere (SSO): guests, login
        methods, MFA; then the request's own demand for two factors (acr_values, step-up).
        prompt=none gets login_required instead of a page."""
        client = requesting_client(request.get_full_path())
        if client is None:
            return None  # the toolkit answers an unknown or disabled client itself
        context = signin_context_for_client(client)
        response = guest_requirement_response(request, context)
        if response is None and not session_meets_login_methods(request, context):
            response = redirect_to_login(self._return_path(), resolve_url(settings.LOGIN_URL), "next")
        if response is None:
            response = mfa_requirement_response(request, context)
        if response is None:
            response = acr_requirement_response(request, context)
        if response is not None and "none" in _prompt(request):
            return self._login_required()
        return response

    def _signin_requirements_unmet(self, request, client, parameters) -> bool:
        """Whether this session falls short of ``client``'s tenant's rules or the request's
        acr demand (what _signin_requirements checks; a guest asked for two factors is
        signed out on the way, as the page's GET would)."""
        context = signin_context_for_client(client)
        return (
            (request.user.is_guest and guest_refusal(context) is not None)
            or not session_meets_login_methods(request, context)
            or mfa_requirement_response(request, context) is not None
            or acr_requirement_response(request, context, parameters) is not None
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if application is not None:
            context["tenant_name"] = tenant_display_name(application.tenant)
        return context

    def create_authorization_response(self, request, scopes, credentials, allow):
        # On GET this is only reached to let a client through without asking.
        if request.method == "GET" and "consent" in _prompt(request):
            raise _ConsentToBeAsked
        return super().create_authorization_response(request, scopes, credentials, allow)

    def handle_no_permission(self):
        prompt = _prompt(self.request)
        if "none" in prompt:
            return self._login_required()
        if "create" in prompt:
            return super().handle_no_permission()
        return self.handle_prompt_login()

    def handle_prompt_login(self):
        """To the login page, or for a signed-in user to sign in again by a method they have
        and the tenant takes (accounts.signin.reauthentication, decision 34)."""
        return_to = self._return_path()
        if not self.request.user.is_authenticated:
            return redirect_to_login(return_to, resolve_url(settings.LOGIN_URL), self.get_redirect_field_name())
        context = signin_context_for_client(requesting_client(self.request.get_full_path()))
        return reauthentication_response(self.request, context, return_to)

    def redirect(self, redirect_to, application):
        response = super().redirect(redirect_to, application)
        if self.request.method == "POST":
            response.status_code = 303  # the answer to a form is fetched, never re-posted
        return response

    def error_response(self, error, application, **kwargs):
        # RFC 9207 asks for iss on error responses too; the toolkit adds it on success only.
        response = super().error_response(error, application, **kwargs)
        if response.has_header("Location"):
            issuer = oauth2_settings.oauth2_authorization_server_issuer(self.request)
            response["Location"] = add_params_to_uri(response["Location"], [("iss", issuer)])
        return response

    def _return_path(self) -> str:
        """This request without what signing in satisfies: prompt=login and max_age."""
        query = self.request.GET.copy()
        prompt = sorted(_prompt(self.request) - {"login"})
        if prompt:
            query["prompt"] = " ".join(prompt)
        else:
            query.pop("prompt", None)
        query.pop("max_age", None)
        query.pop("id_token_hint", None)  # whoever signs in now is who the app gets
        return f"{self.request.path}?{query.urlencode()}"

    def _enforce_max_age(self, request):
        try:
            _scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        max_age = _max_age(request)
        if max_age is None:
            error = InvalidRequestError(description="max_age must be a number of seconds", state=credentials["state"])
            return self._redirect_error(error, credentials)
        if time.time() - session_authentication(request)["auth_time"] <= max_age:
            return None
        if "none" in _prompt(request):
            return self._redirect_error(LoginRequired(state=credentials["state"]), credentials)
        return self.handle_prompt_login()

    def _login_required(self):
        """prompt=none with nobody signed in: tell the client, show nothing (Core 1.0, 3.1.2.6)."""
        try:
            _scopes, credentials = self.validate_authorization_request(self.request)
        except OAuthToolkitError as error:
            if not isinstance(error.oauthlib_error, ConsentRequired):
                return self.error_response(error, application=None)
            # Asking for consent would come after signing in, which is what is missing.
            found = error.oauthlib_error
            credentials = {"client_id": found.client_id, "redirect_uri": found.redirect_uri, "state": found.state}
        return self._redirect_error(LoginRequired(state=credentials["state"]), credentials)

    def _redirect_error(self, oauthlib_error, credentials):
        application = Client.objects.get(client_id=credentials["client_id"])
        error = OAuthToolkitError(error=oauthlib_error, redirect_uri=credentials["redirect_uri"])
        return self.error_response(error, application)


class TokenView(oauth2_views.TokenView):
    @method_decorator(sensitive_post_parameters("client_secret", "code", "code_verifier", "refresh_token"))
    def post(self, request, *args, **kwargs):
        # No device flow: its grant type goes to oauthlib like any other the client may
        # not use (the toolkit's device branch answers 404, or 500 without device_code).
        # Nor the toolkit's ``app_authorized`` signal, which nothing here receives: sending
        # it costs a query per token, to read back the token just written.
        # oauthlib marks successful responses no-store; errors get it here too.
        refusal = _token_request_refusal(request)
        if refusal is not None:
            return _no_store(JsonResponse({"error": "invalid_request", "error_description": refusal}, status=400))
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return _no_store(_challenged_as_authenticated(request, response))


# RFC 8707, 2: each ``resource`` names one resource. Any other parameter is sent once.
REPEATABLE_TOKEN_PARAMETERS = frozenset({"resource"})


def _token_request_refusal(request) -> str | None:
    """Why a token request is an invalid_request before oauthlib reads it, or None.

    oauthlib refuses a repeated grant_type or scope, but the toolkit hands it one value of
    each parameter (RFC 6749, 3.2 forbids repeating any). And it answers a client named
    twice, by HTTP Basic and in the body, with server_error.
    """
    if any(len(values) > 1 for name, values in request.POST.lists() if name not in REPEATABLE_TOKEN_PARAMETERS):
        return "a parameter is sent more than once"
    basic = client_credentials_of(request.META.get("HTTP_AUTHORIZATION"), None, None)
    named = request.POST.get("client_id")
    if basic is not None and named and named != basic[0]:
        return "HTTP Basic and client_id name different clients"
    return None


def _challenged_as_authenticated(request, response):
    """A client refused after HTTP Basic is challenged with Basic (RFC 6749, 5.2), not with
    oauthlib's Bearer, the scheme of access tokens."""
    scheme = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0]
    if response.status_code == 401 and scheme.lower() == "basic":
        response["WWW-Authenticate"] = 'Basic realm="harbourmaster"'
    return response


class RevokeTokenView(oauth2_views.RevokeTokenView):
    def post(self, request, *args, **kwargs):
        return _challenged_as_authenticated(request, super().post(request, *args, **kwargs))


class UserInfoView(oauth2_views.UserInfoView):
    def get(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            # A token in a URL ends up in logs and histories (RFC 9700, 4.3.2).
            error = {
                "error": "invalid_request",
                "error_description": "send the access token in the Authorization header",
            }
            return _no_store(JsonResponse(error, status=400))
        return _no_store(_errors_labelled(super().get(request, *args, **kwargs)))

    def post(self, request, *args, **kwargs):
        return _no_store(_errors_labelled(super().post(request, *args, **kwargs)))


class LogoutView(NotFramed, oauth2_views.RPInitiatedLogoutView):
    """RP-Initiated Logout 1.0: ends the hub session of this browser, and nothing else.

    The toolkit's ``do_logout`` also deletes every token of the ID token's user (else the
    session's) at every client of every tenant: for a stranger holding any ID token the
    user's apps received, with no session and nobody asked, and for a signed-in user who
    confirms someone else's hint. Here only Django's ``logout()`` runs, whose
    ``user_logged_out`` tells the apps this session signed in to (back-channel logout,
    decision 19 and its amendment); a request without a session ends nothing and is still
    sent to the ``post_logout_redirect_uri`` the toolkit checked against the client.
    Tokens are the apps' to revoke (RFC 7009), or a sign-out everywhere's to end (staff's).
    """

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        logout(self.request)
        if not post_logout_redirect_uri:
            return OAuth2ResponseRedirect(
                self.request.build_absolute_uri("/"), oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES
            )
        if state:
            post_logout_redirect_uri = add_params_to_uri(post_logout_redirect_uri, [("state", state)])
        return OAuth2ResponseRedirect(post_logout_redirect_uri, application.get_allowed_schemes())

    def get_request_application(self, id_token, client_id):
        # The toolkit lets an unknown client_id escape as a 500.
        try:
            return super().get_request_application(id_token, client_id)
        except Client.DoesNotExist:
            raise InvalidOIDCClientError() from None


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class IntrospectTokenView(View):
    """RFC 7662 for a tenant's confidential clients, about their own tenant's tokens only.

    The toolkit's view answers any token to any caller holding an "introspection"
    token; here the caller authenticates as a client, and another tenant's token is
    as unknown as one that never existed.
    """

    def post(self, request, *args, **kwargs):
        credentials = client_credentials_of(
            request.META.get("HTTP_AUTHORIZATION"), request.POST.get("client_id"), request.POST.get("client_secret")
        )
        token = request.POST.get("token")
        answer = None
        if credentials is not None and token:
            answer = introspection_for_client(client_id=credentials[0], secret=credentials[1], token=token)
        elif credentials is not None and client_authenticated(*credentials):
            return _no_store(
                JsonResponse({"error": "invalid_request", "error_description": "token is missing"}, status=400)
            )
        if answer is None:
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="harbourmaster"'
            return _no_store(response)
        return _no_store(JsonResponse(answer))
