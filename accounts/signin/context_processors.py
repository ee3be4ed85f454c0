from django.http import HttpRequest

from accounts.signin.context import signin_context
from accounts.signin.guest import guest_refusal


def signin(request: HttpRequest) -> dict:
    """``signin`` in every template: the tenant being served, its methods and branding.

    Lazy: pages that never mention it (the admin) never resolve it.
    """
    return {"signin": _Lazy(request)}


class _Lazy:
    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @property
    def methods_offered(self) -> list[str]:
        """The methods the login page offers: "Continue as guest" only where the tenant takes
        guests (not where it requires a second factor, docs/decisions/0016)."""
        context = signin_context(self._request)
        return [method for method in context.methods if method != "guest" or guest_refusal(context) is None]

    def __getattr__(self, name: str):
        return getattr(signin_context(self._request), name)
