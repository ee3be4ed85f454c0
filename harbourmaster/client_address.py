"""The client's address, as every limit a stranger can hit counts it.

Behind load balancers the connection's peer (``REMOTE_ADDR``) is the balancer, for every
caller alike. There the client is the ``X-Forwarded-For`` entry that the outermost of
``TRUSTED_PROXY_COUNT`` proxies appended (``ALLAUTH_TRUSTED_PROXY_COUNT``), counted from the
right: entries further left are whatever the client sent. A header shorter than the count (a
proxy miscounted, or a caller reached the hub around its balancer) gives the peer.

A limit counts an IPv4 address by itself and an IPv6 address by its /64, the network one
subscriber is given: whoever holds a /64 could otherwise step through its addresses. allauth's
own limits see the same (its adapter asks ``client_address``, and cuts IPv6 to the /64 itself).
"""

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

IPV6_NETWORK_BITS = 64
_IPV6_NETWORK_MASK = ((1 << IPV6_NETWORK_BITS) - 1) << (128 - IPV6_NETWORK_BITS)

logger = logging.getLogger(__name__)
_short_forwarded_for_logged = False


def client_address_key(request: HttpRequest) -> str:
    """The address a limit counts this request under: IPv4 as it came, IPv6 as its /64.
    The tenant API asks on every call, so an IPv4 address (no ``:``) is not parsed."""
    entry = _client_entry(request)
    if ":" not in entry:
        return entry
    address = _parsed(entry)
    if address is None:
        return entry  # no address: counted as it came, as allauth's limits count it
    if address.version == 4:
        return str(address)
    return str(ipaddress.IPv6Address(int(address) & _IPV6_NETWORK_MASK))  # half the cost of an IPv6Network


def client_address(request: HttpRequest) -> str | None:
    """The client's whole address in its usual spelling (for allauth: its limits, and the
    address its security notification mails name), or None where the entry is no address."""
    address = _parsed(_client_entry(request))
    return None if address is None else str(address)


def _client_entry(request: HttpRequest) -> str:
    proxies = settings.ALLAUTH_TRUSTED_PROXY_COUNT
    forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR") if proxies > 0 else None
    if forwarded_for:
        entries = forwarded_for.split(",")
        if len(entries) >= proxies:
            entry = entries[-proxies].strip()
            if entry:
                return entry
        else:
            _short_forwarded_for_warn()
    return request.META.get("REMOTE_ADDR", "")


def _parsed(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in an entry, which may carry a port (``192.0.2.1:443``, ``[2001:db8::1]:443``);
    an IPv4 address seen through an IPv6 socket (``::ffff:192.0.2.1``) is that IPv4 address:
    as IPv6, every such caller would share one /64."""
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            return None
        host = entry[1:end]
    elif entry.count(":") == 1:
        host = entry.partition(":")[0]
    else:
        host = entry
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _short_forwarded_for_warn() -> None:
    global _short_forwarded_for_logged
    if not _short_forwarded_for_logged:
        _short_forwarded_for_logged = True
        logger.warning("X-Forwarded-For holds fewer addresses than TRUSTED_PROXY_COUNT: check the setting")
