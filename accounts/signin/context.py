"""Which tenant a sign-in page is serving, and what that tenant allows there.

A tenant app's authorization request sends the user to the login page with ``next``
pointing back at ``/o/authorize/?client_id=…``. The client, and so the tenant, is read
from there; it is remembered in the session (``SignInContextMiddleware``, only when the
session is saved anyway) so the later pages of the same sign-in (code entry, sign-up,
MFA, the social callback) still know it. Without one, the hub's own defaults apply (the
schema's defaults for every key).

Nothing here trusts ``next`` beyond picking which tenant's rules and branding apply: it
must be a local authorization URL of a live client. Once a sign-in code is sent, not even
that: the code pages (the login code page, and signing in again's,
accounts.signin.reauthentication) serve the tenant the code was asked for at
(``signin_code_made``), so its lifetime, attempt limit and channels are that tenant's
whatever the page's ``next`` names; a code this session made no record for gets the hub's
own defaults, never the tenant ``next`` names.
"""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from allauth.account.stages import LoginByCodeStage, LoginStageController
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.sms.backends import sms_disabled
from tenants.config import effective_config
from tenants.models import Client, Tenant
from tenants.selectors import tenant_effective_config

SESSION_KEY = "signin_client_id"
SESSION_RETURN_KEY = "signin_return_to"  # the authorization request the sign-in goes back to
CODE_SESSION_KEY = "signin_code"  # the client the session's latest sign-in code was made for
REQUEST_ATTRIBUTE = "_signin_context"
CODE_PAGES = ("account_confirm_login_code", "signin_sign_in_again_code")  # serve the code's own tenant


def next_parameter(next_url: str | None, name: str) -> str:
    """The last value of ``name`` in the query of the authorization request ``next`` names
    ("" if none, or if ``next`` is no URL at all, as "http://[" is not)."""
    if not next_url or name not in next_url:
        return ""
    try:
        query = urlsplit(next_url).query
    except ValueError:
        return ""
    return parse_qs(query).get(name, [""])[-1]


def requesting_client(next_url: str | None) -> Client | None:
    """The live client of an authorization request this sign-in will return to, if any."""
    if not next_url:
        return None
    try:
        parts = urlsplit(next_url)
    except ValueError:  # not a URL at all ("http://[")
        return None
    if parts.scheme or parts.netloc or parts.path != reverse("oauth2_provider:authorize"):
        return None
    client_id = parse_qs(parts.query).get("client_id", [""])[-1]
    if not client_id or "\x00" in client_id:
        return None
    client = Client.objects.select_related("tenant").filter(client_id=client_id, disabled_at__isnull=True).first()
    return client if client is not None and client.tenant.is_active else None


def tenant_display_name(tenant: Tenant) -> str:
    return tenant_effective_config(tenant=tenant).get("branding", {}).get("display_name") or tenant.name


@dataclass(frozen=True)
class SignInContext:
    """The tenant a sign-in page serves (``tenant`` None: the hub's own defaults)."""

    client: Client | None
    tenant: Tenant | None
    config: dict[str, Any] = field(repr=False)
    from_next: bool = False  # found in this request's ``next``, not only in the session

    @property
    def methods(self) -> list[str]:
        """Sign-in methods in the order the page offers them (config ``login_methods``)."""
        return list(self.config["login_methods"])

    def allows(self, method: str) -> bool:
        return method in self.config["login_methods"]

    @property
    def otp(self) -> dict[str, Any]:
        return self.config["otp"]

    @property
    def mfa(self) -> dict[str, Any]:
        return self.config["mfa"]

    @property
    def branding(self) -> dict[str, Any]:
        return self.config["branding"]

    @property
    def display_name(self) -> str:
        return tenant_display_name(self.tenant) if self.tenant is not None else "Harbourmaster"


def authorization_request_url(request: HttpRequest) -> str | None:
    """The authorization request this page serves: ``next``, or the request itself."""
    if request.path == reverse("oauth2_provider:authorize"):
        return request.get_full_path()
    return request.POST.get("next") if request.method == "POST" and "next" in request.POST else request.GET.get("next")


def _live_client(client_id: str | None) -> Client | None:
    if not client_id:
        return None
    client = Client.objects.select_related("tenant").filter(client_id=client_id, disabled_at__isnull=True).first()
    return client if client is not None and client.tenant.is_active else None


def _client_from_session(request: HttpRequest) -> Client | None:
    return _live_client(request.session.get(SESSION_KEY) if hasattr(request, "session") else None)


def _deliverable(config: dict[str, Any]) -> dict[str, Any]:
    """The config as this deployment can serve it: with ``SMS_BACKEND=disabled`` no tenant
    offers SMS codes, whatever it chose (its pages then look as if it had not chosen them)."""
    if not sms_disabled():
        return config
    methods = [method for method in config["login_methods"] if method != "sms_code"]
    channels = [channel for channel in config["otp"]["channels"] if channel != "sms"]
    return {**config, "login_methods": methods, "otp": {**config["otp"], "channels": channels}}


def signin_context_for_client(client: Client | None, *, from_next: bool = False) -> SignInContext:
    if client is None:
        return SignInContext(client=None, tenant=None, config=_deliverable(effective_config({})))
    config = _deliverable(tenant_effective_config(tenant=client.tenant))
    return SignInContext(client=client, tenant=client.tenant, config=config, from_next=from_next)


def signin_context_for_tenant(tenant: Tenant) -> SignInContext:
    """A page that speaks for a tenant but for none of its apps (a consent to confirm)."""
    return SignInContext(client=None, tenant=tenant, config=_deliverable(tenant_effective_config(tenant=tenant)))


def signin_client_remember(request: HttpRequest, client: Client) -> None:
    """Pin the sign-in in this session to ``client`` (the authorization endpoint calls it)."""
    request.session[SESSION_KEY] = client.client_id
    request.__dict__.pop(REQUEST_ATTRIBUTE, None)


def signin_context(request: HttpRequest) -> SignInContext:
    """The sign-in context of this request; computed once per request."""
    found = request.__dict__.get(REQUEST_ATTRIBUTE)
    if found is not None:
        return found
    if request.path in {reverse(name) for name in CODE_PAGES}:
        context = signin_context_for_client(_pending_code_client(request))
    else:
        context = _context_from_next_or_session(request)
    setattr(request, REQUEST_ATTRIBUTE, context)
    return context


def _context_from_next_or_session(request: HttpRequest) -> SignInContext:
    client = requesting_client(authorization_request_url(request))
    if client is not None:
        return signin_context_for_client(client, from_next=True)
    return signin_context_for_client(_client_from_session(request))


# --- Sign-in codes: the tenant a code was asked for at -----------------------------------


def signin_code_made(request: HttpRequest, *, client: Client | None, code: str) -> None:
    """Remember that ``code``, just made, is for ``client``'s sign-in (None: the hub's own).

    The code page then serves that client (``signin_context``), so the code is held to the
    lifetime and attempt limit of the tenant it was asked for at: the page's ``next`` is
    the sender's to choose. A resend on the code page is made for the same client again.
    """
    request.session[CODE_SESSION_KEY] = {"client_id": client.client_id if client else None, "code": _digest(code)}


def signin_code_stage_found(request: HttpRequest, stage: LoginByCodeStage) -> None:
    """A code page kept outside allauth's pending login (signing in again) has found its
    code's ``stage``: put it where the hub's code form reads it, and serve the code's
    tenant from here on (a context worked out earlier in this request, by the language
    middleware from ``next``, did not know the code)."""
    request._login_stage = stage
    request.__dict__.pop(REQUEST_ATTRIBUTE, None)


def _pending_code_client(request: HttpRequest) -> Client | None:
    """The client the session's pending sign-in code was made for.

    None (the hub's own defaults) when the session holds no code, or a code this record
    was not made for: never the client a request names.
    """
    record = request.session.get(CODE_SESSION_KEY) if hasattr(request, "session") else None
    if not record:
        return None
    code = _pending_code(request)
    if not (code and constant_time_compare(record["code"], _digest(code))):
        return None
    return _live_client(record["client_id"])


def _pending_code(request: HttpRequest) -> str:
    """The code the session's pending code sign-in waits for ("" if none)."""
    stage = getattr(request, "_login_stage", None)  # put there by the code page (allauth's, or signin_code_stage_found)
    if stage is None or stage.key != LoginByCodeStage.key:
        stage = LoginStageController.enter(request, LoginByCodeStage.key)
    return stage.state.get("code", "") if stage is not None else ""


def _digest(code: str) -> str:
    return salted_hmac("accounts.signin.context.signin_code_made", code, algorithm="sha256").hexdigest()


def signin_return_url(request: HttpRequest) -> str | None:
    """The authorization request this session's sign-in started from, while still live.

    For pages that lose ``next`` on the way (the link in an email confirmation).
    """
    url = request.session.get(SESSION_RETURN_KEY) if hasattr(request, "session") else None
    return url if url and requesting_client(url) is not None else None
