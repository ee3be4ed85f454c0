"""A tenant that requires MFA: its apps get a user only after a second factor this session.

allauth.mfa does the factors (TOTP, passkeys, recovery codes): enrolment, the challenge at sign-in
for anyone who has enrolled, re-authentication. What the hub adds is the tenant's rule,
applied at the authorization endpoint, which sends a user without a second factor in
this session to prove one the tenant takes (allauth's MFA re-authentication) or, having
none it takes, to enrol one, and back. docs/decisions/0016-mfa-and-guests.md.
"""

from dataclasses import replace

from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from accounts.signin.context import SignInContext
from accounts.signin.guest import guest_requirement_response

# Where the enrolment pages send the user back to (templates/mfa/recovery_codes/index.html
# reads it through ``request.session``); always a local path we built ourselves.
RETURN_SESSION_KEY = "signin_mfa_return_to"
ENROLMENT_PAGES = {"totp": "mfa_activate_totp", "webauthn": "mfa_add_webauthn"}
REAUTHENTICATION_PAGES = {"totp": "mfa_reauthenticate", "webauthn": "mfa_reauthenticate_webauthn"}
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_used_in_session(request: HttpRequest, *, methods: list[str]) -> bool:
    """Whether the signed-in user proved one of ``methods`` in this session."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" and record.get("type") in methods for record in records)


def mfa_requirement_response(request: HttpRequest, context: SignInContext) -> HttpResponse | None:
    """The redirect a signed-in user needs before ``context``'s tenant gets them, or None.

    None when the tenant does not require MFA, nobody is signed in, or a second factor
    of the tenant's methods was used this session. Otherwise: to allauth's MFA
    re-authentication if the user has an authenticator the tenant takes, else to enrol one
    it takes; either way back to
    ``request.get_full_path()``. A guest cannot hold a second factor: its session ends and
    the login page is shown (accounts.signin.guest).
    """
    user = request.user
    if not context.mfa["required"] or not user.is_authenticated:
        return None
    if user.is_guest:
        return guest_requirement_response(request, context)
    if mfa_used_in_session(request, methods=context.mfa["methods"]):
        request.session.pop(RETURN_SESSION_KEY, None)
        return None
    return_to = request.get_full_path()
    page = _reauthentication_page(user, context.mfa["methods"])
    if page is not None:
        return redirect_to_login(return_to, resolve_url(page))
    request.session[RETURN_SESSION_KEY] = return_to
    return redirect_to_login(return_to, resolve_url(_enrolment_page(context.mfa["methods"])))


def mfa_step_up_response(request: HttpRequest, context: SignInContext) -> HttpResponse | None:
    """``mfa_requirement_response`` as if ``context``'s tenant required MFA: for one
    authorization request that asks for two factors (accounts.oidc.step_up, decision 20)."""
    required = replace(context, config={**context.config, "mfa": {**context.mfa, "required": True}})
    return mfa_requirement_response(request, required)


def _reauthentication_page(user, methods: list[str]) -> str | None:
    """Where the user proves a second factor they have *and* the tenant takes: the code page
    for TOTP (it links to the passkey page), else the passkey page; None if they have none
    the tenant takes. Proving any other factor would not count (``mfa_used_in_session``),
    and the user would be sent round to prove it again; they enrol a factor instead.
    Recovery codes alone do not choose the page: they are for a lost factor, not for
    spending one at every sign-in."""
    enrolled = Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).values_list("type", flat=True)
    usable = set(enrolled) & set(methods)
    for factor, page in REAUTHENTICATION_PAGES.items():
        if factor in usable:
            return page
    return None


def _enrolment_page(methods: list[str]) -> str:
    offered = [name for name in methods if name in ENROLMENT_PAGES and name in mfa_settings.SUPPORTED_TYPES]
    return ENROLMENT_PAGES[offered[0]] if offered else "mfa_index"


@receiver(authenticator_added, dispatch_uid="accounts.signin.mfa.enrolment_counts")
def _enrolment_counts_as_use(sender, request, user, authenticator, **kwargs) -> None:
    """Enrolling a TOTP app means entering a code it made: that proves the factor for this
    session, so the user is not asked for a second code (from the same 30 s window) at once."""
    if request is not None and authenticator.type in SECOND_FACTORS:
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)
