"""A tenant that requires MFA: its apps get a user only after a second factor this session.

allauth.mfa does the factors (TOTP, passkeys, recovery codes): enrolment, the challenge at sign-in
for anyone who has enrolled, re-authentication. What the hub adds is the tenant's rule,
applied at the authorization endpoint, which sends a user without a second factor in
this session to enrol (no authenticator yet) or to prove one (allauth's MFA
re-authentication) and back. docs/decisions/0016-mfa-and-guests.md.
"""

from dataclasses import replace

from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from allauth.mfa.utils import is_mfa_enabled
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
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_used_in_session(request: HttpRequest, *, methods: list[str]) -> bool:
    """Whether the signed-in user proved one of ``methods`` in this session."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" and record.get("type") in methods for record in records)


def mfa_requirement_response(request: HttpRequest, context: SignInContext) -> HttpResponse | None:
    """The redirect a signed-in user needs before ``context``'s tenant gets them, or None.

    None when the tenant does not require MFA, nobody is signed in, or a second factor
    of the tenant's methods was used this session. Otherwise: to allauth's MFA
    re-authentication if the user has an authenticator, else to enrol; either way back to
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
    if is_mfa_enabled(user, list(SECOND_FACTORS)):
        return redirect_to_login(return_to, resolve_url(_reauthentication_page(user)))
    request.session[RETURN_SESSION_KEY] = return_to
    return redirect_to_login(return_to, resolve_url(_enrolment_page(context.mfa["methods"])))


def mfa_step_up_response(request: HttpRequest, context: SignInContext) -> HttpResponse | None:
    """``mfa_requirement_response`` as if ``context``'s tenant required MFA: for one
    authorization request that asks for two factors (accounts.oidc.step_up, decision 20)."""
    required = replace(context, config={**context.config, "mfa": {**context.mfa, "required": True}})
    return mfa_requirement_response(request, required)


def _reauthentication_page(user) -> str:
    """The code page, unless the user's only second factor is a passkey (it links back)."""
    if is_mfa_enabled(user, [Authenticator.Type.TOTP]):
        return "mfa_reauthenticate"
    return "mfa_reauthenticate_webauthn"


def _enrolment_page(methods: list[str]) -> str:
    offered = [name for name in methods if name in ENROLMENT_PAGES and name in mfa_settings.SUPPORTED_TYPES]
    return ENROLMENT_PAGES[offered[0]] if offered else "mfa_index"


@receiver(authenticator_added, dispatch_uid="accounts.signin.mfa.enrolment_counts")
def _enrolment_counts_as_use(sender, request, user, authenticator, **kwargs) -> None:
    """Enrolling a TOTP app means entering a code it made: that proves the factor for this
    session, so the user is not asked for a second code (from the same 30 s window) at once."""
    if request is not None and authenticator.type in SECOND_FACTORS:
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)
