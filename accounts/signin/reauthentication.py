"""Signing in again (prompt=login, max_age) by a method the user has and the tenant takes.

allauth's re-authentication page takes a password. That suits a user who has one, at a
tenant that takes passwords; anyone else met a 403 there (no password) or answered with a
method the tenant does not take. They come to this page instead, which offers:

- a code to their own verified address, over a channel the tenant offers: allauth's
  login-by-code process, kept under its own session key (allauth's pending login is for
  signed-out users, and its clean-up drops the session's authentication records). The
  code back records a new authentication, as allauth's password re-authentication does;
- the tenant's social providers, and signing out to sign in on the tenant's login page:
  a fresh sign-in, which makes the session whoever's signs in.

Either way the user goes back to the authorization request, without prompt=login and
max_age. Both pages serve only the request of the client the authorization endpoint sent
the user here for (``CLIENT_SESSION_KEY``): a ``next`` naming another is refused as an
invalid one, so a code cannot be fetched under one tenant's rules for another's request.
The code page holds the code to the rules of the tenant it was made for
(``signin_code_made``, accounts.signin.context). And the new authentication counts at a
tenant only if it takes the method (``session_authentication``).
docs/decisions/0034-reauthentication-by-what-the-user-has.md.
"""

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import record_authentication
from allauth.account.internal.flows.login_by_code import LoginCodeVerificationProcess
from allauth.account.models import EmailAddress, Login
from allauth.account.stages import LoginByCodeStage, LoginStageController
from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from accounts.signin.codes import code_channel_available
from accounts.signin.context import SignInContext, requesting_client, signin_code_stage_found, signin_context
from accounts.signin.forms import ConfirmCodeForm
from accounts.signin.limits import code_request_consume
from accounts.signin.social import PROVIDER_BY_METHOD

PAGE = "signin_sign_in_again"
CODE_PAGE = "signin_sign_in_again_code"
CODE_SESSION_KEY = "signin_again_code"
CLIENT_SESSION_KEY = "signin_again_client"  # the client whose request the pages serve


def reauthentication_response(request: HttpRequest, context: SignInContext, return_to: str) -> HttpResponse:
    """Where a signed-in user proves themselves again before ``return_to``: allauth's
    password page if they have a password and ``context``'s tenant takes one, else here."""
    if request.user.has_usable_password() and context.allows("password"):
        return redirect_to_login(return_to, resolve_url("account_reauthenticate"))
    request.session[CLIENT_SESSION_KEY] = context.client.client_id if context.client else None
    return redirect_to_login(return_to, resolve_url(PAGE))


def code_addresses(user, context: SignInContext) -> dict[str, str]:
    """The user's own verified addresses a code may go to at ``context``'s tenant, by channel."""
    found = {}
    if code_channel_available(context, "email"):
        verified = EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "pk")
        email = verified.values_list("email", flat=True).first()
        if email:
            found["email"] = email
    if code_channel_available(context, "sms") and user.phone_number and user.phone_number_verified:
        found["sms"] = user.phone_number
    return found


class SignInAgainCode(LoginCodeVerificationProcess):
    """allauth's code process for a user who stays signed in while the code travels."""

    @classmethod
    def start(cls, request: HttpRequest, *, channel: str, address: str) -> None:
        addressed = {"phone": address} if channel == "sms" else {"email": address}
        login = Login(user=request.user, email=addressed.get("email"))
        stage = LoginByCodeStage(LoginStageController(request, login), request, login)
        # Not a sign-in of its own (allauth's and the hub's code form read it so): the account
        # is the signed-in one, and the code proves only its own address.
        stage.state.update(cls.initial_state(user=request.user, **addressed), initiated_by_user=False)
        process = cls(stage=stage)
        process.send()
        process.persist()

    @classmethod
    def pending(cls, request: HttpRequest) -> "SignInAgainCode | None":
        """This session's code process for its signed-in user, while the code is valid."""
        try:
            login = Login.deserialize(request.session[CODE_SESSION_KEY])
        except (KeyError, TypeError, ValueError):
            return None
        if login.user != request.user:
            return None
        stage = LoginByCodeStage(LoginStageController(request, login), request, login)
        return cls(stage=stage).abort_if_invalid()

    def persist(self) -> None:
        self.request.session[CODE_SESSION_KEY] = self.stage.login.serialize()

    def abort(self) -> None:
        self.request.session.pop(CODE_SESSION_KEY, None)

    def finish(self, redirect_url: str) -> HttpResponse:
        """The code came back: a new authentication in this session, as allauth records one."""
        addressed = {name: self.state[name] for name in ("email", "phone") if self.state.get(name)}
        record_authentication(self.request, self.user, method="code", reauthenticated=True, **addressed)
        self.abort()
        return HttpResponseRedirect(redirect_url)


def _return_to(request: HttpRequest) -> str | None:
    """The authorization request to go back to (``next``): only a live client's, and for a
    signed-in user only the client's ``reauthentication_response`` sent them here for."""
    url = request.POST.get("next") if request.method == "POST" else request.GET.get("next")
    client = requesting_client(url)
    if client is None:
        return None
    if request.user.is_authenticated and request.session.get(CLIENT_SESSION_KEY) != client.client_id:
        return None
    return url


def _page(name: str, return_to: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': return_to})}")


def _send_code(request: HttpRequest, channel: str, address: str, return_to: str) -> HttpResponse:
    # The limits of the login page's code requests (accounts.signin.limits).
    allowed = ratelimit.consume(request, action="request_login_code")
    if not (allowed and code_request_consume(request, address=address.lower())):
        messages.error(request, get_adapter().error_messages["too_many_login_attempts"])
        return _page(PAGE, return_to)
    SignInAgainCode.start(request, channel=channel, address=address)
    return _page(CODE_PAGE, return_to)


@never_cache
def sign_in_again(request: HttpRequest) -> HttpResponse:
    """The ways this user can sign in again at the tenant, and a code sent on request."""
    return_to = _return_to(request)
    if return_to is None:
        return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))
    if not request.user.is_authenticated:
        return redirect_to_login(return_to, resolve_url(settings.LOGIN_URL))
    context = signin_context(request)
    addresses = code_addresses(request.user, context)
    channel = request.POST.get("channel")
    if request.method == "POST" and channel in addresses:
        return _send_code(request, channel, addresses[channel], return_to)
    social = [method for method in context.methods if method in PROVIDER_BY_METHOD]
    page = {"addresses": addresses, "social_methods": social, "return_to": return_to}
    return render(request, "account/sign_in_again.html", page)


@never_cache
def sign_in_again_code(request: HttpRequest) -> HttpResponse:
    """The code sent by ``sign_in_again``: right, back to the app; wrong, try again."""
    return_to = _return_to(request)
    if return_to is None:
        return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))
    process = SignInAgainCode.pending(request) if request.user.is_authenticated else None
    if process is None:
        return _page(PAGE, return_to)
    signin_code_stage_found(request, process.stage)  # the form holds the code to its own tenant's rules
    form = ConfirmCodeForm(request.POST if request.method == "POST" else None, code=process.code)
    if form.is_bound:
        if form.is_valid():
            return process.finish(return_to)
        if not process.record_invalid_attempt():
            messages.error(request, get_adapter().error_messages["too_many_login_attempts"])
            return _page(PAGE, return_to)
    page = {"form": form, "email": process.state.get("email"), "phone": process.state.get("phone")}
    return render(request, "account/sign_in_again_code.html", {**page, "return_to": return_to})
