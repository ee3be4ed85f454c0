"""What a tenant may learn about an access token (RFC 7662): only about its own."""

from typing import Any

from django.contrib.auth import get_user_model

from accounts.oidc.claims import subject_for
from tenants.models import Tenant
from tenants.selectors import access_token_with_client

INACTIVE = {"active": False}


def access_token_introspect(*, token: str, tenant: Tenant) -> dict[str, Any]:
    """The token's facts if it is live and belongs to ``tenant``; ``active: false`` otherwise.

    Another tenant's token gets the same answer as a token that never existed, and the
    user appears as the ``sub`` this tenant knows, never by email. The token and its
    client come from the cache that revocation and disabling write over (tenants.selectors).
    """
    found, owner = access_token_with_client(raw_token=token)
    if (
        found is None
        or found.expired
        or owner is None
        or owner.client.tenant_id != tenant.pk
        or owner.client.is_disabled
    ):
        return INACTIVE
    answer = {
        "active": True,
        "scope": found.scope,
        "client_id": found.client_id,
        "token_type": "Bearer",
        "exp": int(found.expires),
        "iat": int(found.issued),
    }
    if found.user_id is not None:
        user = get_user_model().objects.filter(pk=found.user_id, is_active=True).first()
        if user is None:  # gone, or deactivated: its tokens are dead
            return INACTIVE
        answer["sub"] = subject_for(user=user, tenant=tenant)
    return answer
