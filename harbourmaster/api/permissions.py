from rest_framework.permissions import SAFE_METHODS, BasePermission

from harbourmaster.api.caller import ApiCaller


class HasScope(BasePermission):
    """The token must carry one of the scopes the view names for reading or writing.

    Views declare ``read_scopes`` and ``write_scopes`` (sets); a view that declares
    neither is closed to everyone.
    """

    message = "The access token lacks the scope this operation needs."

    def has_permission(self, request, view) -> bool:
        caller = request.auth
        if not isinstance(caller, ApiCaller):
            return False
        needed = getattr(view, "read_scopes" if request.method in SAFE_METHODS else "write_scopes", set())
        return bool(needed & caller.scopes)
