"""The provider's routes: the toolkit's namespace, so its own reverse() calls find them.

Mounted at the root, so the issuer is the site itself and discovery sits at
/.well-known/openid-configuration. Only what the hub offers is routed: no application
management pages, no device flow, no dynamic registration.
"""

from django.urls import path

from accounts.oidc import cors, views
from accounts.oidc.failure_budget import failure_budgeted
from accounts.oidc.revocation_list import RevocationListView

app_name = "oauth2_provider"


def endpoint(view_class):
    return views.refuse_nul_parameters(view_class.as_view())


def machine_endpoint(view_class, *, readable_by=None):
    """An endpoint that takes credentials from anyone: behind its caller's failure budget.

    ``readable_by`` (accounts.oidc.cors) lets browser apps of the origins their client
    allows read its answers; inside the budget, whose 429 says ``*`` itself.
    """
    view = view_class.as_view()
    if readable_by is not None:
        view = readable_by(view)
    return views.refuse_nul_parameters(failure_budgeted(view))


urlpatterns = [
    path("o/authorize/", endpoint(views.AuthorizationView), name="authorize"),
    path("o/token/", machine_endpoint(views.TokenView, readable_by=cors.for_client_requests), name="token"),
    path(
        "o/revoke_token/",
        machine_endpoint(views.RevokeTokenView, readable_by=cors.for_client_requests),
        name="revoke-token",
    ),
    path("o/introspect/", machine_endpoint(views.IntrospectTokenView), name="introspect"),
    # Revoked JWT access tokens (jti until exp), for resource servers that check JWTs locally.
    path("o/revoked-tokens/", RevocationListView.as_view(), name="revoked-tokens"),
    path("o/userinfo/", machine_endpoint(views.UserInfoView, readable_by=cors.for_bearer_requests), name="user-info"),
    path("o/logout/", endpoint(views.LogoutView), name="rp-initiated-logout"),
    path(".well-known/openid-configuration", views.DiscoveryView.as_view(), name="oidc-connect-discovery-info"),
    path(".well-known/jwks.json", views.JwksView.as_view(), name="jwks-info"),
    path(
        ".well-known/oauth-authorization-server",
        views.ServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
]
