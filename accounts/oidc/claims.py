"""What an ID token and the userinfo endpoint say about a user, limited by scope.

One vocabulary: the profile fields are the OpenID Connect standard claims (Core 1.0,
5.1), so this module only picks, groups and formats them.
"""

import base64
import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings
from django.http import HttpRequest

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
SUPPORTED_CLAIMS = ("sub", "auth_time", "amr", "sid", *(claim for claims in SCOPE_CLAIMS.values() for claim in claims))

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
    return _keyed_hash(f"{tenant.pk}:{user.uuid}")


# Where the session keeps its own opaque id; it survives the key change at sign-in and
# goes with the session at sign-out.
HUB_SESSION_ID_KEY = "_hub_session_id"


def hub_session_id(request: HttpRequest) -> str:
    """This browser session's opaque id, made on first use and never shown as it is."""
    value = request.session.get(HUB_SESSION_ID_KEY)
    if not value:
        value = request.session[HUB_SESSION_ID_KEY] = secrets.token_urlsafe(32)
    return value


def _keyed_hash(message: str) -> str:
    digest = hmac.new(settings.OIDC_PAIRWISE_SUBJECT_KEY.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def session_id_for(*, hub_session_id: str, tenant: Tenant) -> str:
    """The ``sid`` this tenant sees for a hub session (Back-Channel Logout 1.0, 2.1).

    One per tenant, like a pairwise ``sub``: a value every tenant shared would let them
    join their users on it.
    """
    return _keyed_hash(f"sid:{tenant.pk}:{hub_session_id}")


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


def user_claims_named(*, user: User, names, scopes: list[str] | set[str]) -> dict[str, Any]:
    """Of the claims ``names`` (the ``claims`` request parameter, Core 1.0, 5.5), those that
    ``scopes`` cover; a claim with no value is left out."""
    covered = {claim for scope in set(scopes) & set(SCOPE_CLAIMS) for claim in SCOPE_CLAIMS[scope]}
    values = {claim: _claim_value(user, claim) for claim in names if claim in covered}
    return {claim: value for claim, value in values.items() if value is not None}
