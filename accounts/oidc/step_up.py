"""Step-up at the authorization endpoint: a request that asks for more than this session proved.

An app that asks for two factors (``acr_values``, or ``acr`` essential in the claims
parameter) gets, for that one authorization, what a tenant with ``mfa.required`` gets:
the user is sent to prove a second factor (or to enrol one) and back. A guest is sent to
sign in to an account instead, whatever level was asked for. Decision 20.
"""

from django.http import HttpRequest, HttpResponse, QueryDict

from accounts.oidc.acr import ACR_LEVELS, acr_level_required
from accounts.oidc.authentication import session_authentication
from accounts.oidc.requested_claims import MalformedClaimsRequest, claims_request_from_parameter
from accounts.signin.context import SignInContext
from accounts.signin.mfa import mfa_step_up_response


def acr_requirement_response(
    request: HttpRequest, context: SignInContext, parameters: QueryDict | None = None
) -> HttpResponse | None:
    """The redirect a signed-in user needs before the ``acr`` demand of this request (or of
    the authorization ``parameters`` given) is met, or None."""
    parameters = request.GET if parameters is None else parameters
    try:
        requested = claims_request_from_parameter(parameters.get("claims"))
    except MalformedClaimsRequest:
        return None  # the toolkit answers invalid_request, with no page before it
    required = acr_level_required(acr_values=parameters.get("acr_values"), requested=requested)
    if ACR_LEVELS[session_authentication(request)["acr"]] >= required:
        return None
    return mfa_step_up_response(request, context)
