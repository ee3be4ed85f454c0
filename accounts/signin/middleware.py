from django.conf import settings
from django.utils import translation

from accounts.signin.context import (
    REQUEST_ATTRIBUTE,
    SESSION_KEY,
    SESSION_RETURN_KEY,
    authorization_request_url,
    next_parameter,
    signin_context,
)
from accounts.signin.guest import guest_account_page_response


def requested_ui_locales(request) -> list[str]:
    """``ui_locales`` of the authorization request this page serves (Core 1.0, 3.1.2.1)."""
    if "ui_locales" in request.GET:
        value = request.GET["ui_locales"]
    else:
        value = next_parameter(request.GET.get("next"), "ui_locales")
    return value.split()


class SignInLanguageMiddleware:
    """Speak the language the app asked for with ``ui_locales``, if the tenant offers it.

    After LocaleMiddleware (which goes by the language cookie, then Accept-Language). The
    choice is kept in the language cookie so the later pages of the sign-in keep it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        wanted = requested_ui_locales(request)
        chosen = None
        if wanted:
            offered = signin_context(request).config["locales"]
            # "de-CH" asks for German too; the tenant's list is in the hub's languages.
            chosen = next((tag.split("-")[0].lower() for tag in wanted if tag.split("-")[0].lower() in offered), None)
        if chosen:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        response = self.get_response(request)
        if chosen:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                chosen,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


class SignInContextMiddleware:
    """Remember which tenant app a sign-in is for, in a session that is being saved anyway.

    A page that found its client in ``next`` stores it, so the next pages of the same
    sign-in know it without ``next``. A wrong password (nothing else stored) still sets
    no session cookie. Must come after SessionMiddleware (it runs first on the way out).

    It also keeps guests off allauth's pages that claim an address or a credential for the
    signed-in account: they are sent to register (``guest_account_page_response``). That
    needs AuthenticationMiddleware before it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def process_view(self, request, view_func, view_args, view_kwargs):
        return guest_account_page_response(request)

    def __call__(self, request):
        response = self.get_response(request)
        context = request.__dict__.get(REQUEST_ATTRIBUTE)
        session = getattr(request, "session", None)
        if context is None or session is None or context.client is None or not context.from_next:
            return response
        if session.modified or session.session_key:
            if session.get(SESSION_KEY) != context.client.client_id:
                session[SESSION_KEY] = context.client.client_id
            return_to = authorization_request_url(request)
            if return_to and session.get(SESSION_RETURN_KEY) != return_to:
                session[SESSION_RETURN_KEY] = return_to
        return response
