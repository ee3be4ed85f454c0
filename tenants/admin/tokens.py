"""django-oauth-toolkit's access-token admin, with a revoke action that stops a token at once.

The toolkit's action deletes the rows; the hub also caches machine tokens
(docs/decisions/0013-oauth-fast-path.md), so the action here also buries each token's
cache entry. The hub keeps only a checksum of each token, so a JWT access token's ``jti``
cannot be listed from here: staff are told to disable the client to stop those at once.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from oauth2_provider.admin import AccessTokenAdmin

from tenants.config import ACCESS_TOKEN_FORMAT_JWT
from tenants.selectors import access_token_cache_forget_checksums, tenant_effective_config


class HubAccessTokenAdmin(AccessTokenAdmin):
    actions = ("revoke_tokens",)

    @admin.action(description=_("Revoke selected access tokens"))
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
