"""Guest sign-in: a visitor without an account, known by a cookie on this device.

"Continue as guest" on a tenant's login page makes (or finds again) the device's guest,
signs it in and returns to the authorization request. The cookie holds a random value;
the hub keeps only its SHA-256, so a copy of the database opens no guest's session.
When the device later signs in to a registered account, the guest is merged into it
(accounts/merge.py). docs/decisions/0016-mfa-and-guests.md. A guest claims no address or
credential on allauth's account pages: it is sent to register (docs/decisions/0033).
"""

import hashlib
import logging
import secrets
import time

from allauth.account.internal.flows.login import record_authentication
from allauth.account.signals import user_logged_in
from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.merge import GuestMergeRefused, guest_merge
from accounts.models import User
from accounts.services import user_guest_create
from accounts.signin.context import SignInContext, signin_context, signin_return_url
from harbourmaster.actors import Actor
from harbourmaster.client_address import client_address_key

logger = logging.getLogger(__name__)
AUTHENTICATION_METHOD = "guest"  # in allauth's records; it maps to no amr value
BACKEND = "allauth.account.auth_backends.AuthenticationBackend"
ACTOR = Actor.system("guest-sign-in")


def device_hash(value: str) -> str:
    # The value is 256 random bits, so a plain hash is as good as a keyed one and survives
    # a rotation of SECRET_KEY.
    return hashlib.sha256(value.encode()).hexdigest()


def guest_for_device(request: HttpRequest) -> User | None:
    """The unmerged guest this device's cookie names, if any."""
    value = request.COOKIES.get(settings.GUEST_DEVICE_COOKIE_NAME)
    if not value:
        return None
    return User.objects.filter(
        kind=User.Kind.GUEST, guest_device_hash=device_hash(value), merged_into=None, is_active=True
    ).first()


def guest_refusal(context: SignInContext) -> str | None:
    """Why this tenant's page takes no guests, or None if it does."""
    if not context.allows("guest"):
        return "not_offered"
    if context.mfa["required"]:
        return "mfa_required"  # a guest has no second factor to show
    return None


# --- The page's door ---------------------------------------------------------------------


@require_POST
def guest_sign_in(request: HttpRequest) -> HttpResponse:
    """ "Continue as guest": sign the device's guest in (made on first use) and return."""
    context = signin_context(request)
    refusal = guest_refusal(context)
    if refusal is not None:
        return render(request, "signin/guest_refused.html", {"reason": refusal}, status=403)
    target = _next(request)
    if request.user.is_authenticated and not request.user.is_guest:
        return HttpResponseRedirect(target)  # already signed in to an account
    guest, cookie_value = guest_for_device(request), None
    if guest is None:
        if not _creation_allowed(request):
            return render(request, "signin/guest_refused.html", {"reason": "rate_limited"}, status=429)
        cookie_value = secrets.token_urlsafe(32)
        guest = user_guest_create(actor=ACTOR, tenant=context.tenant, device_hash=device_hash(cookie_value))
    login(request, guest, backend=BACKEND)
    record_authentication(request, guest, method=AUTHENTICATION_METHOD)
    response = HttpResponseRedirect(target)
    if cookie_value is not None:
        _device_cookie_set(request, response, cookie_value)
    return response


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    return target if target and safe else resolve_url(settings.LOGIN_REDIRECT_URL)


def _creation_allowed(request: HttpRequest) -> bool:
    """At most GUEST_SIGNINS_PER_IP_PER_HOUR new guests per address and hour (in the cache)."""
    window = int(time.time() // 3600)
    key = f"guest-sign-in:{client_address_key(request)}:{window}"
    cache.add(key, 0, timeout=3600)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the window's first
        cache.add(key, 1, timeout=3600)
        used = 1
    return used <= settings.GUEST_SIGNINS_PER_IP_PER_HOUR


def _device_cookie_set(request: HttpRequest, response: HttpResponse, value: str) -> None:
    response.set_cookie(
        settings.GUEST_DEVICE_COOKIE_NAME,
        value,
        max_age=settings.GUEST_DEVICE_COOKIE_AGE,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


# --- A guest session that an app wants more from -------------------------------------------


def guest_requirement_response(request: HttpRequest, context: SignInContext) -> HttpResponse | None:
    """For the authorization endpoint: a signed-in guest that this request cannot take.

    The tenant takes no guests or requires MFA, or the app asks for a real sign-in
    (``prompt=login`` or ``prompt=create``): the guest session ends (the device cookie
    stays, so the guest is merged once the person signs in) and the login page, or the
    sign-up page for ``prompt=create``, is shown. None when the guest may go on.

    ``prompt=none`` only asks: the answer is the same redirect (the authorization endpoint
    turns any answer into login_required) and the session is left as it is, so a silent
    check by one tenant's app does not sign the guest out of another's.
    """
    user = request.user
    if not (user.is_authenticated and user.is_guest):
        return None
    prompts = set(request.GET.get("prompt", "").split())
    if guest_refusal(context) is None and not prompts & {"login", "create"}:
        return None
    query = request.GET.copy()
    query.pop("max_age", None)
    if prompts - {"login", "create"}:
        query["prompt"] = " ".join(sorted(prompts - {"login", "create"}))
    else:
        query.pop("prompt", None)
    page = "account_signup" if "create" in prompts else settings.LOGIN_URL
    return_to = f"{request.path}?{query.urlencode()}"
    if "none" in prompts:
        return redirect_to_login(return_to, resolve_url(page))
    return guest_session_end_response(request, return_to=return_to, page=page)


def guest_session_end_response(request: HttpRequest, *, return_to: str, page: str = settings.LOGIN_URL):
    logout(request)
    return redirect_to_login(return_to, resolve_url(page))


# --- allauth's account pages: a guest registers instead ---------------------------------------

# The pages that put an address, a password, a second factor or a provider on the signed-in
# account. A guest proved nothing to be there, so what it claimed there would be a stranger's
# claim on the person who later proves it (docs/decisions/0033). Names of routes that exist:
# allauth's phone pages (account_change_phone) are routed only with "phone" in
# ACCOUNT_SIGNUP_FIELDS, which the hub does not set; add them here if it ever does.
ACCOUNT_PAGES_CLOSED_TO_GUESTS = frozenset(
    {
        "account_email",
        "account_set_password",
        "account_change_password",
        "socialaccount_connections",
        "mfa_index",
        "mfa_activate_totp",
        "mfa_deactivate_totp",
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "mfa_download_recovery_codes",
        "mfa_list_webauthn",
        "mfa_add_webauthn",
        "mfa_edit_webauthn",
        "mfa_remove_webauthn",
    }
)


def guest_account_page_response(request: HttpRequest) -> HttpResponse | None:
    """For a signed-in guest on one of those pages, or connecting a provider: the sign-up
    page, as when an app asks a guest for an account. The guest session ends and the device
    cookie stays, so the guest is merged into the account made. None for everyone else."""
    # The page first: the user is not loaded for every other request (the token endpoint).
    if request.resolver_match.url_name not in ACCOUNT_PAGES_CLOSED_TO_GUESTS and not _connects_a_provider(request):
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_guest:
        return None
    return_to = signin_return_url(request) or request.path
    return guest_session_end_response(request, return_to=return_to, page="account_signup")


def _connects_a_provider(request: HttpRequest) -> bool:
    """A provider's login started to connect it to the signed-in account (``process=connect``)."""
    provider_view = request.resolver_match.func.__module__.startswith("allauth.socialaccount.providers.")
    return provider_view and "connect" in (request.POST.get("process"), request.GET.get("process"))


# --- Signing in to an account on a guest's device -------------------------------------------


@receiver(user_logged_in, dispatch_uid="accounts.signin.guest.merge")
def _merge_device_guest(sender, request: HttpRequest, user: User, **kwargs) -> None:
    """allauth signed an account in (password, code, social, after sign-up and verification)
    on a device that holds a guest: the guest becomes part of the account."""
    if request is None or user.is_guest:
        return
    guest = guest_for_device(request)
    if guest is None:
        return
    try:
        guest_merge(guest=guest, into=user, actor=Actor.user(user))
    except GuestMergeRefused as refusal:
        logger.warning("guest %s not merged into %s: %s", guest.uuid, user.uuid, refusal)
