"""How many sign-in codes may be asked for, beyond allauth's own count per client IP.

allauth counts ``request_login_code`` by the address alone when its rates say ``/key``: then
anyone could keep a code-only user from ever getting a code by asking for that user's codes
over and over. The hub leaves allauth only the per-IP count and counts two more itself
(rates in ``ACCOUNT_RATE_LIMITS``):

- ``request_login_code_client``: per client IP *and* address, so a stranger spends only
  their own budget and the owner of the address, elsewhere, still gets codes;
- ``request_login_code_address``: per address from all clients together, a higher ceiling,
  so that many clients cannot flood one inbox or phone either.

Either limit, reached, gets the same answer as allauth's (no hint whether the address has
an account).
"""

from allauth.core import ratelimit
from django.http import HttpRequest

from harbourmaster.client_address import client_address_key

PER_CLIENT = "request_login_code_client"
PER_ADDRESS = "request_login_code_address"


def code_request_consume(request: HttpRequest, *, address: str) -> bool:
    """Count one code request for ``address`` (an email address or phone number, lower-cased)
    from this request's client; False when a limit is reached (nothing is sent then)."""
    # While the address-wide ceiling is reached nothing is counted: the owner's retries then
    # do not spend their own budget, and they get codes again as soon as the ceiling frees.
    if not ratelimit.consume(request, action=PER_ADDRESS, key=address, dry_run=True):
        return False
    # The IP as every limit sees it (IPv6 cut to its /64; behind proxies, taken from
    # X-Forwarded-For per TRUSTED_PROXY_COUNT), so rotating addresses inside one network
    # buys nothing.
    if not ratelimit.consume(request, action=PER_CLIENT, key=f"{client_address_key(request)} {address}"):
        return False
    return ratelimit.consume(request, action=PER_ADDRESS, key=address)
