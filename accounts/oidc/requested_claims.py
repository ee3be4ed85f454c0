"""The ``claims`` request parameter (Core 1.0, 5.5): which claims a relying party asks for, and where.

A JSON object whose ``id_token`` and ``userinfo`` members each map claim names to null or
to an object with ``essential``, ``value`` or ``values``. The hub releases a requested
claim only where it supports the claim and the client's scopes, within its tenant's,
cover it; anything else is silently left out, as Core lets a provider do with claims it
will not release. ``essential`` forces nothing, except for ``acr`` (accounts.oidc.acr).
Names the hub does not know, and values of anything but ``acr``, are dropped when the
request is read, so nothing a client makes up is stored. Decision 20.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from accounts.oidc.acr import ACR_LEVELS
from accounts.oidc.claims import SCOPE_CLAIMS, SUPPORTED_CLAIMS
from accounts.oidc.models import RequestedUserinfoClaims

ID_TOKEN_KNOWN = frozenset({*SUPPORTED_CLAIMS, "acr"})
# What userinfo answers at all: the profile, never how the user signed in.
USERINFO_KNOWN = frozenset({"sub", *(claim for claims in SCOPE_CLAIMS.values() for claim in claims)})
TARGETS = {"id_token": ID_TOKEN_KNOWN, "userinfo": USERINFO_KNOWN}


class MalformedClaimsRequest(ValueError):
    """The parameter is not JSON, or not the object Core 1.0, 5.5 describes."""


@dataclass(frozen=True)
class ClaimsRequest:
    """Per target, each requested claim the hub knows: ``{"essential": bool, "values": [...]}``,
    either member only when sent (``value`` is folded into ``values``)."""

    id_token: dict[str, dict[str, Any]] = field(default_factory=dict)
    userinfo: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {target: getattr(self, target) for target in TARGETS if getattr(self, target)}


def claims_request_from_parameter(raw: str | None) -> ClaimsRequest:
    """The parameter as sent in the query string."""
    return claims_request_from(claims_request_json(raw)) if raw else ClaimsRequest()


def claims_request_json(raw: str) -> dict[str, Any] | None:
    """The parameter decoded from JSON, once its shape is known to be right."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise MalformedClaimsRequest("the claims parameter is not JSON") from None
    claims_request_from(value)
    return value


def claims_request_from(value: Any) -> ClaimsRequest:
    """The parameter once decoded from JSON (as oauthlib hands it over), or as stored.

    Top-level members other than the two targets are ignored (Core 1.0, 5.5), so the
    grant's own private keys next to them do no harm.
    """
    if value is None or value == "":
        return ClaimsRequest()
    if not isinstance(value, dict):
        raise MalformedClaimsRequest("the claims parameter must be a JSON object")
    return ClaimsRequest(**{target: _target(value.get(target), target) for target in TARGETS})


def _target(members: Any, target: str) -> dict[str, dict[str, Any]]:
    if members is None:
        return {}
    if not isinstance(members, dict):
        raise MalformedClaimsRequest(f"claims.{target} must be a JSON object")
    requested = {
        name: _claim(request, f"claims.{target}.{name}", keep_values=name == "acr") for name, request in members.items()
    }
    return {name: request for name, request in requested.items() if name in TARGETS[target]}


def _claim(request: Any, where: str, *, keep_values: bool) -> dict[str, Any]:
    if request is None:
        return {}
    if not isinstance(request, dict):
        raise MalformedClaimsRequest(f"{where} must be null or a JSON object")
    found: dict[str, Any] = {}
    if "essential" in request:
        if not isinstance(request["essential"], bool):
            raise MalformedClaimsRequest(f"{where}.essential must be true or false")
        found["essential"] = request["essential"]
    values = request.get("values", [])
    if not isinstance(values, list):
        raise MalformedClaimsRequest(f"{where}.values must be a JSON array")
    if "value" in request:
        values = [request["value"], *values]
    # Only acr's values mean anything to the hub; only the levels it knows are kept.
    if keep_values and ("values" in request or "value" in request):
        found["values"] = [value for value in values if isinstance(value, str) and value in ACR_LEVELS]
    return found


def with_acr_values(requested: ClaimsRequest, acr_values: str | None) -> ClaimsRequest:
    """``acr_values`` asks for ``acr`` in the ID token (Core 1.0, 3.1.2.1), as a voluntary claim."""
    if not acr_values or "acr" in requested.id_token:
        return requested
    values = [value for value in acr_values.split() if value in ACR_LEVELS]
    return ClaimsRequest(id_token={**requested.id_token, "acr": {"values": values}}, userinfo=requested.userinfo)


# --- The userinfo request, from the code to every token of the sign-in -------------------


def userinfo_claims_request_save(*, refresh_token, requested: ClaimsRequest) -> None:
    if requested.userinfo:
        RequestedUserinfoClaims.objects.create(refresh_token=refresh_token, names=sorted(requested.userinfo))


def userinfo_claims_request_carry(*, previous, refresh_token) -> None:
    """Hand the request on to the refresh token that replaces ``previous`` (rotation)."""
    names = RequestedUserinfoClaims.objects.filter(refresh_token=previous).values_list("names", flat=True).first()
    if names:
        RequestedUserinfoClaims.objects.create(refresh_token=refresh_token, names=names)


def userinfo_claims_requested(*, access_token) -> list[str]:
    """The names asked for at the sign-in that ``access_token`` belongs to."""
    found = RequestedUserinfoClaims.objects.filter(refresh_token__access_token=access_token)
    return found.values_list("names", flat=True).first() or []
