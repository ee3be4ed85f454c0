"""How and when the user signed in this session: the ID token's ``auth_time``, ``amr`` and ``acr``.

allauth keeps a record of each authentication in the session; the authorization
endpoint reads it (see ``backends``) and the code carries it to the token endpoint.
"""

import time
from typing import Any

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest

from accounts.oidc.acr import acr_of

# allauth method (and MFA authenticator type) -> RFC 8176 authentication method reference.
AMR_BY_METHOD = {"password": "pwd", "code": "otp"}
AMR_BY_MFA_TYPE = {"totp": "otp", "recovery_codes": "otp", "webauthn": "hwk"}
FACTORS = ("password", "code", "mfa")


def _amr(records: list[dict[str, Any]]) -> list[str]:
    methods = []
    for record in records:
        if record.get("method") == "mfa":
            methods.append(AMR_BY_MFA_TYPE.get(record.get("type")))
        else:
            methods.append(AMR_BY_METHOD.get(record.get("method")))
        if record.get("method") == "code" and record.get("phone"):
            methods.append("sms")
    found = sorted({method for method in methods if method})
    # Distinct factors, not records: signing in again with the same password (prompt=login,
    # max_age) proves nothing new.
    factors = {(record.get("method"), record.get("type")) for record in records if record.get("method") in FACTORS}
    if len(factors) > 1:
        found.append("mfa")
    return found


def session_authentication(request: HttpRequest) -> dict[str, Any]:
    """``{"auth_time": seconds, "amr": [...], "acr": level}`` for the signed-in user of this session."""
    user = request.user
    records = get_authentication_records(request, user)
    times = [record["at"] for record in records if isinstance(record.get("at"), int | float)]
    if times:
        auth_time = max(times)
    elif user.last_login:
        auth_time = user.last_login.timestamp()
    else:
        auth_time = time.time()
    return {"auth_time": int(auth_time), "amr": _amr(records), "acr": acr_of(user, records)}
