"""A tenant's ``login_methods`` hold at its authorization endpoint, not only on its pages.

Signing in once serves every tenant's app (SSO), but a tenant that does not accept a
method does not accept a session that was opened only with it: someone signed in by an
email code elsewhere who opens an app of a password-only tenant is asked to sign in with
a method that tenant accepts. MFA steps do not count here (``mfa.required`` is its own
rule, accounts.signin.mfa).
"""

from typing import Any

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest

from accounts.signin.context import SignInContext

SOCIAL_PROVIDERS = ("google", "facebook", "apple")


def _method_of(record: dict[str, Any]) -> str | None:
    """The tenant-config login method (``login_methods``) an allauth record stands for."""
    method = record.get("method")
    if method == "password":
        return "password"
    if method == "code":
        return "sms_code" if record.get("phone") else "email_code"
    if method == "socialaccount":
        provider = record.get("provider", "")
        return provider if provider in SOCIAL_PROVIDERS else "oidc"
    if method == "guest":
        return "guest"
    return None


def records_accepted(records: list[dict[str, Any]], context: SignInContext) -> list[dict[str, Any]]:
    """The authentication records of sign-ins by a method ``context``'s tenant accepts."""
    return [record for record in records if (method := _method_of(record)) is not None and context.allows(method)]


def session_login_methods(request: HttpRequest) -> set[str]:
    """The login methods the signed-in user of this session has used."""
    records = get_authentication_records(request, request.user)
    return {found for found in map(_method_of, records) if found}


def session_meets_login_methods(request: HttpRequest, context: SignInContext) -> bool:
    """Whether this session was opened with a method ``context``'s tenant accepts.

    A session without records (signed in before the hub kept them, or by the admin) is
    taken as a password sign-in: that is the only way those were opened.
    """
    used = session_login_methods(request) or {"password"}
    return any(context.allows(method) for method in used)
