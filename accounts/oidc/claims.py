"""What an ID token and the userinfo endpoint say about a user, limited by scope.

One vocabulary: the profile fields are the OpenID Connect standard claims (Core 1.0,
5.1), so this module only picks, groups and formats them.
"""

import base64
import hashlib
import hmac
from typing import Any

from django.conf import settings

from accounts.models import User
from tenants.models import Tenant
from tenants.selectors import tenant_effective_config

# Core 1.0, 5.4: the claims each scope asks for.
SCOPE_CLAIMS = {
    "profile": (
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
}
SUPPORTED_CLAIMS = ("sub", "auth_time", "amr", *(claim for claims in SCOPE_CLAIMS.values() for claim in claims))

ADDRESS_PARTS = {
    "street_address": "address_street",
    "locality": "address_locality",
    "region": "address_region",
    "postal_code": "address_postal_code",
    "country": "address_country",
}


def subject_for(*, user: User, tenant: Tenant) -> str:
    """The ``sub`` this tenant sees: the user's uuid, or its own stable pairwise value.

    Pairwise values are a keyed hash, so tenants cannot join their users on ``sub`` and
    nobody without the key can tell which uuid is behind one.
    """
    if tenant_effective_config(tenant=tenant)["subject_type"] != "pairwise":
        return str(user.uuid)
    message = f"{tenant.pk}:{user.uuid}".encode()
    digest = hmac.new(settings.OIDC_PAIRWISE_SUBJECT_KEY.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _address(user: User) -> dict[str, str] | None:
    parts = {claim: getattr(user, field) for claim, field in ADDRESS_PARTS.items() if getattr(user, field)}
    return parts or None


def _claim_value(user: User, claim: str) -> Any:
    if claim == "address":
        return _address(user)
    if claim == "updated_at":
        return int(user.updated_at.timestamp())
    if claim == "birthdate":
        return user.birthdate.isoformat() if user.birthdate else None
    if claim in ("email_verified", "phone_number_verified"):
        # A verification flag says nothing without the value it verifies.
        return getattr(user, claim) if getattr(user, claim.removesuffix("_verified")) else None
    return getattr(user, claim) or None


def user_claims(*, user: User, tenant: Tenant, scopes: list[str] | set[str]) -> dict[str, Any]:
    """``sub`` and the claims the granted scopes allow; a claim with no value is left out."""
    claims: dict[str, Any] = {"sub": subject_for(user=user, tenant=tenant)}
    for scope in sorted(set(scopes) & set(SCOPE_CLAIMS)):
        for claim in SCOPE_CLAIMS[scope]:
            value = _claim_value(user, claim)
            if value is not None:
                claims[claim] = value
    return claims
