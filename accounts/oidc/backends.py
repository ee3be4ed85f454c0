from oauth2_provider.oauth2_backends import OAuthLibCore

from accounts.oidc.authentication import session_authentication
from accounts.oidc.claims import hub_session_id


class SessionAwareOAuthLibCore(OAuthLibCore):
    """Hands the session's sign-in facts to the validator, which only sees oauthlib's request.

    oauthlib sets every credential as an attribute of its request, so the validator
    reads them as ``request.authentication`` when it saves the authorization code.
    """

    def create_authorization_response(self, request, scopes, credentials, allow):
        if request.user.is_authenticated:
            # The session's id rides along too: the ID token's sid, and whom to tell at logout.
            credentials["authentication"] = {**session_authentication(request), "session": hub_session_id(request)}
        return super().create_authorization_response(request, scopes, credentials, allow)
