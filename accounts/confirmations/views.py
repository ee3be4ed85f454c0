"""The page a consent confirmation link opens: what the tenant said, and yes or no.

It needs no sign-in: the link went to an address proven to be the user's. Opening it
changes nothing (mail scanners open links); only the button does, with the page's CSRF
token, and answers are counted per client IP like the sign-in forms.
"""

from allauth.core import ratelimit
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.confirmations.services import Confirmation, confirmation_answer, confirmation_read
from accounts.signin.context import signin_context_for_tenant
from harbourmaster.client_address import client_address

RATE_LIMIT_ACTION = "consent_confirmation"
TEMPLATE = "confirmations/consent.html"


@require_http_methods(["GET", "POST"])
def consent_confirm(request: HttpRequest, token: str) -> HttpResponse:
    confirmation = confirmation_read(token)
    if confirmation is None:
        return render(request, TEMPLATE, {"invalid": True}, status=404)
    if request.method == "POST":
        answer = request.POST.get("answer")
        if answer not in ("confirm", "decline"):
            return _page(request, confirmation, status=400, error=True)
        limited = ratelimit.consume_or_429(request, action=RATE_LIMIT_ACTION)
        if limited is not None:
            return limited
        confirmation = confirmation_answer(
            confirmation=confirmation,
            accept=answer == "confirm",
            ip_address=client_address(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
        return _page(request, confirmation, answered=confirmation.answered)
    return _page(request, confirmation)


def _page(request: HttpRequest, confirmation: Confirmation, *, status: int = 200, **extra) -> HttpResponse:
    context = {
        "confirmation": confirmation,
        "signin": signin_context_for_tenant(confirmation.purpose.tenant),
        **extra,
    }
    return render(request, TEMPLATE, context, status=status)
