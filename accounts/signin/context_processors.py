from django.http import HttpRequest

from accounts.signin.context import signin_context


def signin(request: HttpRequest) -> dict:
    """``signin`` in every template: the tenant being served, its methods and branding.

    Lazy: pages that never mention it (the admin) never resolve it.
    """
    return {"signin": _Lazy(request)}


class _Lazy:
    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    def __getattr__(self, name: str):
        return getattr(signin_context(self._request), name)
