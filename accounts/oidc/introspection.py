"""What a tenant may learn about an access token (RFC 7662): only about its own."""

import hashlib
from typing import Any

from oauth2_provider.models import get_access_token_model

from accounts.oidc.claims import subject_for
from tenants.models import Tenant

INACTIVE = {"active": False}


def access_token_introspect(*, token: str, tenant: Tenant) -> dict[str, Any]:
    """The token's facts if it is live and belongs to ``tenant``; ``active: false`` otherwise.

    Another tenant's token gets the same answer as a token that never existed, and the
    user appears as the ``sub`` this tenant knows, never by email.
    """
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    access_token = (
        get_access_token_model()
        .objects.select_related("application__tenant", "user")
        .filter(token_checksum=checksum, application__tenant=tenant)
        .first()
    )
    if access_token is None or not access_token.is_valid() or access_token.application.is_disabled:
        return INACTIVE
    answer = {
        "active": True,
        "scope": access_token.scope,
        "client_id": access_token.application.client_id,
        "token_type": "Bearer",
        "exp": int(access_token.expires.timestamp()),
        "iat": int(access_token.created.timestamp()),
    }
    if access_token.user is not None:
        answer["sub"] = subject_for(user=access_token.user, tenant=tenant)
    return answer
