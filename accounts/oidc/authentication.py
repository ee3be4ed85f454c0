"""How and when the user signed in this session: the ID token's ``auth_time``, ``amr`` and ``acr``.

allauth keeps a record of each authentication in the session; the authorization
endpoint reads it (see ``backends``) and the code carries it to the token endpoint.

``auth_time`` is the newest sign-in by a method the tenant of the authorization request
takes (its ``login_methods``): what ``max_age`` is measured against, and so what the ID
token says satisfied it. A password typed again where the tenant takes only codes, or a
code sent for another tenant's request, proves nothing here (decision 34).
"""

import time
from typing import Any

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest

from accounts.oidc.acr import acr_of
from accounts.signin.context import SignInContext, requesting_client, signin_context_for_client
from accounts.signin.policy import records_accepted

# allauth method (and MFA authenticator type) -> RFC 8176 authentication method reference.
AMR_BY_METHOD = {"password": "pwd", "code": "otp"}
AMR_BY_MFA_TYPE = {"totp": "otp", "recovery_codes": "otp", "webauthn": "hwk"}
FACTORS = ("password", "code", "mfa")
SERVED_CONTEXT_ATTRIBUTE = "_oidc_signin_context"


def _amr(records: list[dict[str, Any]]) -> list[str]:
    methods = []
    for record in records:
        if record.get("method") == "mfa":
            methods.append(AMR_BY_MFA_TYPE.get(record.get("type")))
        else:
            methods.append(AMR_BY_METHOD.get(record.get("method")))
        if record.get("method") == "code" and record.get("phone"):
            methods.append("sms")
    found = sorted({method for method in methods if method})
    # Distinct factors, not records: signing in again with the same password (prompt=login,
    # max_age) proves nothing new.
    factors = {(record.get("method"), record.get("type")) for record in records if record.get("method") in FACTORS}
    if len(factors) > 1:
        found.append("mfa")
    return found


def session_authentication(request: HttpRequest, context: SignInContext | None = None) -> dict[str, Any]:
    """``{"auth_time": seconds, "amr": [...], "acr": level}`` for the signed-in user of this
    session, at ``context``'s tenant (default: the authorization request being served)."""
    user = request.user
    records = get_authentication_records(request, user)
    auth_time = _auth_time(user, records, context or _served_context(request))
    return {"auth_time": int(auth_time), "amr": _amr(records), "acr": acr_of(user, records)}


def _auth_time(user, records: list[dict[str, Any]], context: SignInContext) -> float:
    """When the user last signed in by a method ``context``'s tenant takes."""
    accepted = [*records_accepted(records, context), *_factors_confirmed(records, context)]
    taken = [record["at"] for record in accepted if _timed(record)]
    if taken:
        return max(taken)
    times = [record["at"] for record in records if _timed(record)]
    if times:
        # None the tenant takes (its login_methods send such a session to sign in before
        # any code is issued): the session's first sign-in, never a later one by another way.
        return min(times)
    # A session without records (signed in before the hub kept them, or by the admin).
    return user.last_login.timestamp() if user.last_login else time.time()


def _factors_confirmed(records: list[dict[str, Any]], context: SignInContext) -> list[dict[str, Any]]:
    """Re-authentication by a second factor the tenant takes (allauth's "other ways to confirm"
    on its password page): the user signed in again, as prompt=login and max_age ask."""
    methods = context.mfa["methods"]
    return [r for r in records if r.get("method") == "mfa" and r.get("reauthenticated") and r.get("type") in methods]


def _timed(record: dict[str, Any]) -> bool:
    return isinstance(record.get("at"), int | float)


def _served_context(request: HttpRequest) -> SignInContext:
    """The tenant of the authorization request this request serves: its query, or the
    consent form's own fields (what the toolkit authorizes on POST). Once per request."""
    found = request.__dict__.get(SERVED_CONTEXT_ATTRIBUTE)
    if found is None:
        if request.method == "POST":
            client = requesting_client(f"{request.path}?{request.POST.urlencode()}")
        else:
            client = requesting_client(request.get_full_path())
        found = signin_context_for_client(client)
        setattr(request, SERVED_CONTEXT_ATTRIBUTE, found)
    return found
