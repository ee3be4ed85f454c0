"""Admin for tenants, their config, and their OAuth clients and secrets.

django-oauth-toolkit registers the Client model itself, with ``tenants.admin.ClientAdmin``
(``OAUTH2_PROVIDER["APPLICATION_ADMIN_CLASS"]``); the modules here register the rest.
"""

from tenants.admin.client import ClientAdmin, ClientSecretAdmin
from tenants.admin.signing_key import SigningKeyAdmin
from tenants.admin.tenant import TenantAdmin, TenantConfigRevisionAdmin

__all__ = ["ClientAdmin", "ClientSecretAdmin", "SigningKeyAdmin", "TenantAdmin", "TenantConfigRevisionAdmin"]
