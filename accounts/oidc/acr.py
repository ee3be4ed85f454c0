"""How strongly the user signed in: the ID token's ``acr`` (Core 1.0, 2) and ``acr_values``.

The hub's Authentication Context Class References, from its own namespace:

- ``urn:harbourmaster:acr:1`` — one factor: a password, a code sent by email or SMS, or a
  social account.
- ``urn:harbourmaster:acr:2`` — two factors: besides that, a second factor of allauth.mfa
  (an authenticator app's code, a recovery code, a passkey) proven in this session.
- ``0`` — a guest: nothing was proven (Core 1.0, 2 gives "0" that meaning).

A level is met by itself and by any higher one. Decision 20.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.oidc.requested_claims import ClaimsRequest

ACR_NO_FACTOR = "0"
ACR_ONE_FACTOR = "urn:harbourmaster:acr:1"
ACR_TWO_FACTORS = "urn:harbourmaster:acr:2"
ACR_LEVELS = {ACR_NO_FACTOR: 0, ACR_ONE_FACTOR: 1, ACR_TWO_FACTORS: 2}
# What a client may ask for; "0" is only ever an answer.
ACR_VALUES_SUPPORTED = [ACR_ONE_FACTOR, ACR_TWO_FACTORS]


def acr_of(user, records: list[dict[str, Any]]) -> str:
    """The level this session's allauth authentication records reach for ``user``."""
    if user.is_guest:
        return ACR_NO_FACTOR
    if any(record.get("method") == "mfa" for record in records):
        return ACR_TWO_FACTORS
    return ACR_ONE_FACTOR


def acr_level_required(*, acr_values: str | None, requested: "ClaimsRequest") -> int:
    """The least level this authorization request accepts; 0 when it sets none.

    ``acr_values`` lists acceptable values in order of preference, so the lowest one the
    hub knows is enough. ``acr`` in the claims parameter is a demand only when essential
    and with values. Values the hub does not know demand nothing.
    """
    demands = []
    known = [ACR_LEVELS[value] for value in (acr_values or "").split() if value in ACR_LEVELS]
    if known:
        demands.append(min(known))
    acr = requested.id_token.get("acr", {})
    if acr.get("essential") and acr.get("values"):
        demands.append(min(ACR_LEVELS[value] for value in acr["values"]))
    return max(demands, default=0)
