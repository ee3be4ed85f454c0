"""What a tenant may learn about an access token (RFC 7662): only about its own."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache

from accounts.oidc.claims import subject_for
from accounts.oidc.jwt_tokens import access_token_issued, access_token_revoked_with_client
from accounts.oidc.revocation_list import subject_token_revoked
from tenants.models import Tenant
from tenants.selectors import (
    access_token_cache_key,
    access_token_checksum,
    access_token_with_client,
    client_cache_key,
    client_cached,
    client_from_cache_entry,
    client_of_token_known,
)

INACTIVE = {"active": False}


def client_authenticated(client_id: str, secret: str) -> bool:
    """Whether ``secret`` is a live secret of the usable client ``client_id``."""
    found = client_cached(client_id=client_id)
    return found is not None and found.secret_matches(secret)


def introspection_for_client(*, client_id: str, secret: str, token: str) -> dict[str, Any] | None:
    """What the client ``client_id`` may learn about ``token``; None if ``secret`` is not one
    of its live secrets (or the client is disabled, or its tenant suspended).

    One cache round trip once this process has seen the token: the caller's client, the
    token and the token's client come back in one MGET.
    """
    checksum = access_token_checksum(token)
    caller_key, token_key = client_cache_key(client_id), access_token_cache_key(checksum)
    known = client_of_token_known(checksum)
    found = cache.get_many([caller_key, token_key] + ([client_cache_key(known)] if known else []))
    caller = client_from_cache_entry(client_id=client_id, entry=found.get(caller_key))
    if caller is None or not caller.secret_matches(secret):
        return None
    return access_token_introspect(token=token, tenant=caller.client.tenant, found=found)


def access_token_introspect(*, token: str, tenant: Tenant, found: dict | None = None) -> dict[str, Any]:
    """The token's facts if it is live and belongs to ``tenant``; ``active: false`` otherwise.

    Another tenant's token gets the same answer as a token that never existed, and the
    user appears as the ``sub`` this tenant knows, never by email. The token and its
    client come from the cache that revocation and disabling write over (tenants.selectors);
    a token issued before its client was last disabled is inactive, and a user's token issued before the user was signed out everywhere or deactivated is
    inactive, as the revocation list tells resource servers (decision 27).
    """
    found, owner = access_token_with_client(raw_token=token, found=found)
    if (
        found is None
        or found.expired
        or owner is None
        or owner.client.tenant_id != tenant.pk
        or owner.client.is_disabled
        or access_token_revoked_with_client(token, client=owner.client, created=found.issued)
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
        # Tokens written while the sign-out committed are caught here; and a reactivated
        # account's tokens from before stay dead, as they are at resource servers.
        if subject_token_revoked(
            client_id=found.client_id, subject=answer["sub"], issued=access_token_issued(token, created=found.issued)
        ):
            return INACTIVE
    return answer
