"""POSTs to addresses that tenants choose (back-channel logout now, webhooks later), safely.

A tenant names a URL; the hub's worker sends to it. Three things keep that from reaching
into the hub's own network or holding a worker:

- The name is resolved once, every address it gives is checked (loopback, private,
  link-local — the cloud metadata address among them —, multicast, reserved, and IPv6
  forms that carry such an IPv4 address), and the connection goes to exactly those
  addresses. Checking, then letting an HTTP library resolve the name again, would let a
  DNS server answer a public address to the check and 127.0.0.1 to the connection
  (DNS rebinding).
- The name stays the request's: the Host header, TLS's SNI and the certificate check use it.
- One total deadline bounds connecting, the TLS handshake, sending and the answer's
  headers: a server that drips its answer a byte at a time is cut off when it runs out.
  (Resolving the name is bounded by the resolver's own timeouts.)

Redirects are not followed, no proxy or ``.netrc`` from the environment is used, and the
answer's body is never read: the status is all the caller gets. The standard library's
``http.client`` is used rather than requests because the hub must choose the socket, and
cut it off at the deadline; requests (urllib3) resolves the name itself and times each
read, not the whole.
"""

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from contextlib import suppress
from urllib.parse import urlencode, urlsplit

import requests.certs

# The certificate authorities the hub's other outbound calls (requests) trust: certifi's.
TRUSTED_AUTHORITIES = requests.certs.where()
USER_AGENT = "Harbourmaster"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(Exception):
    """The URL leads into the hub's own network (or is no http(s) URL): nothing was sent."""


class OutboundFailed(Exception):
    """The receiver could not be reached or did not answer in time; asking again may work."""


def address_is_public(address: str) -> bool:
    """Whether ``address`` (an IP address, as written or as resolved) is on the public internet."""
    ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 scope (fe80::1%eth0) says nothing
    carried = _carried_ipv4(ip) if ip.version == 6 else None
    if carried is not None:  # judged by where it leads
        return address_is_public(str(carried))
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped (::ffff:a.b.c.d), 6to4, or NAT64's."""
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def form_post(
    url: str, fields: dict[str, str], *, connect_seconds: float, total_seconds: float, allow_loopback: bool = False
) -> int:
    """POST ``fields`` form-encoded to ``url``; return the answer's HTTP status.

    ``allow_loopback`` lets the name resolve to loopback addresses too (a development
    receiver on 127.0.0.1); private and other internal addresses stay refused.
    Raises OutboundRefused (nothing was sent) or OutboundFailed (may work later).
    """
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port out of range
        raise OutboundRefused("not a valid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"not an http(s) URL: {parts.scheme}")
    addresses = _resolve_public(parts.hostname, port, allow_loopback=allow_loopback)
    deadline = _Deadline(total_seconds)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(
        parts.hostname, port, addresses=addresses, connect_seconds=connect_seconds, deadline=deadline
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}
    try:
        with deadline:
            connection.request("POST", target, body=urlencode(fields), headers=headers)
            status = connection.getresponse().status  # reads the status line and headers only
    except (OSError, http.client.HTTPException) as error:
        raise OutboundFailed("deadline passed" if deadline.passed else type(error).__name__) from None
    finally:
        connection.close()
    if deadline.passed:  # cut off in the headers: the status alone is no answer
        raise OutboundFailed("deadline passed")
    return status


def _resolve_public(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """The addresses ``host`` resolves to, once; refused if any of them is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except OSError as error:  # the name does not resolve (now)
        raise OutboundFailed(type(error).__name__) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        loopback = ipaddress.ip_address(address.split("%")[0]).is_loopback
        if not (address_is_public(address) or (allow_loopback and loopback)):
            raise OutboundRefused(f"{host} resolves to an internal address")
    return addresses


class _Deadline:
    """Shuts the watched socket down when the time is up, however the server paces its bytes:
    a blocked read then returns at once. A socket timeout alone bounds each read, not the sum."""

    def __init__(self, seconds: float):
        self.ends_at = time.monotonic() + seconds
        self.passed = False
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._pass)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()

    def remaining(self) -> float:
        return max(0.001, self.ends_at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        self._socket = sock
        if self.passed:  # the time ran out while this socket was being made
            self._shut(sock)

    def _pass(self) -> None:
        self.passed = True
        if self._socket is not None:
            self._shut(self._socket)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        # The plain socket's shutdown, also for a TLS socket: ssl.SSLSocket.shutdown would
        # drop its TLS state under the thread that is reading.
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses that were checked, never to what the name resolves to by then;
    the name is still the Host header's."""

    def __init__(self, host: str, port: int, *, addresses: list[str], connect_seconds: float, deadline: _Deadline):
        super().__init__(host, port, timeout=connect_seconds)
        self.addresses = addresses
        self.deadline = deadline

    def connect(self) -> None:
        self.sock = self._tcp_connect()

    def _tcp_connect(self) -> socket.socket:
        error: OSError = OSError("no address")
        for address in self.addresses:
            try:
                sock = socket.create_connection((address, self.port), min(self.timeout, self.deadline.remaining()))
            except OSError as failed:
                error = failed
                continue
            self.deadline.watch(sock)
            sock.settimeout(self.deadline.remaining())
            return sock
        raise error


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """As above, over TLS: SNI and the certificate check use the name, not the address."""

    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        context = ssl.create_default_context(cafile=TRUSTED_AUTHORITIES)
        sock = context.wrap_socket(self._tcp_connect(), server_hostname=self.host, do_handshake_on_connect=False)
        self.deadline.watch(sock)
        sock.do_handshake()
        self.sock = sock
