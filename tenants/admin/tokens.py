"""django-oauth-toolkit's token admins: read-only, with revoke actions that stop a token at once.

The toolkit's change form edits a token's expiry and scope in place, which the hub's cache of
machine tokens (docs/decisions/0013-oauth-fast-path.md) would not hear of: here tokens are
shown, and ended by revoking them. Revoking needs the permission to change tokens.

The toolkit's action deletes the rows; the action here also buries each token's cache entry.
The hub keeps only a checksum of each token, so a JWT access token's ``jti`` cannot be listed
from here: staff are told to disable the client to stop those at once.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from oauth2_provider.admin import AccessTokenAdmin, RefreshTokenAdmin
from oauth2_provider.models import get_refresh_token_model

from harbourmaster.admin import ReadOnlyAdminMixin
from tenants.config import ACCESS_TOKEN_FORMAT_JWT
from tenants.selectors import access_token_cache_forget_checksums, tenant_effective_config


class HubAccessTokenAdmin(ReadOnlyAdminMixin, AccessTokenAdmin):
    actions = ("revoke_tokens",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("oauth2_provider.change_accesstoken")

    @admin.action(description=_("Revoke selected access tokens"), permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        rows = list(queryset.select_related("application__tenant"))
        AccessTokenAdmin.revoke_tokens(self, request, queryset)
        access_token_cache_forget_checksums(checksums=[row.token_checksum for row in rows])
        jwt_tenants = sorted(
            {
                row.application.tenant.name
                for row in rows
                if row.application is not None
                and tenant_effective_config(tenant=row.application.tenant)["access_token_format"]
                == ACCESS_TOKEN_FORMAT_JWT
            }
        )
        if jwt_tenants:
            messages.warning(
                request,
                _(
                    "%(tenants)s issue JWT access tokens, which resource servers check on their own: "
                    "those stay valid until they expire. Disable the client to stop them at once."
                )
                % {"tenants": ", ".join(jwt_tenants)},
            )


class HubRefreshTokenAdmin(ReadOnlyAdminMixin, RefreshTokenAdmin):
    """Sign-in tokens, which the hub does not cache: the toolkit's revoke, behind a permission."""

    actions = ("revoke_tokens",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("oauth2_provider.change_refreshtoken")

    @admin.action(description=_("Revoke selected refresh tokens"), permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        RefreshTokenAdmin.revoke_tokens(self, request, queryset)


def refresh_token_admin_register(site: admin.AdminSite = admin.site) -> None:
    model = get_refresh_token_model()
    if site.is_registered(model):
        site.unregister(model)
    site.register(model, HubRefreshTokenAdmin)
