"""Authorization request parameters the hub refuses, at the client's redirect URI.

Checked once the client and its redirect URI are known (``validate_response_type``), so a
refusal is an error response the client can read (Core 1.0, 3.1.2.6), never a page and
never a 500 from a value no column can hold. What discovery says is what is taken:
``request_parameter_supported`` and ``request_uri_parameter_supported`` are false,
``response_modes_supported`` is ``["query"]``.
"""

import re
from urllib.parse import parse_qsl

from oauth2_provider.models import get_grant_model
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.openid.connect.core.exceptions import RequestNotSupported, RequestURINotSupported

# RFC 7636, 4.2: BASE64URL(SHA-256(verifier)) without padding; S256 is the only method taken.
S256_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# Longer than any sign-in can be old (3 * 10^10 years); int() refuses past 4300 digits.
MAX_AGE_DIGITS = 18


def max_age_seconds(value: str | None) -> int | None:
    """``max_age`` as a number of seconds, or None if it is not a whole number the hub takes."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > MAX_AGE_DIGITS:
        return None
    return int(value)


def authorization_parameters_check(request) -> None:
    """Raise the error the specs name for a parameter the hub does not take as sent."""
    if request.response_mode not in (None, "query"):
        # Answered where the hub always answers (oauthlib would honour "fragment").
        request.response_mode = "query"
        raise errors.InvalidRequestError(request=request, description="response_mode must be query")
    # From the address itself: oauthlib's request gets a "request" attribute of its own
    # (the validated request, handed back with the credentials).
    sent = {name for name, _value in parse_qsl(request.uri_query, keep_blank_values=True)}
    if "request" in sent:
        raise RequestNotSupported(request=request)  # Core 1.0, 6.1
    if "request_uri" in sent:
        raise RequestURINotSupported(request=request)  # Core 1.0, 6.2
    _check_fits_the_grant(request)
    if request.max_age is not None and max_age_seconds(request.max_age) is None:
        raise errors.InvalidRequestError(request=request, description="max_age must be a number of seconds")


def _check_fits_the_grant(request) -> None:
    nonce_length = get_grant_model()._meta.get_field("nonce").max_length
    if request.nonce is not None and len(request.nonce) > nonce_length:
        raise errors.InvalidRequestError(request=request, description=f"nonce is longer than {nonce_length}")
    if request.code_challenge is not None and not S256_CODE_CHALLENGE.fullmatch(request.code_challenge):
        raise errors.InvalidRequestError(request=request, description="code_challenge is not an S256 challenge")
