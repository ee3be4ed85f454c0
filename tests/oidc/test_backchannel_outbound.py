"""Where and how long the hub POSTs a logout token (harbourmaster.outbound, decision 19).

The name in a client's back-channel URI is resolved once; the hub connects to exactly the
addresses it checked, speaks to them by the name (Host, SNI, certificate), and gives the
whole delivery one deadline. DNS answers are scripted by replacing ``socket.getaddrinfo``;
connections to the "public" address 93.184.216.34 are recorded, and led to a receiver on
127.0.0.1 where a test has one, so that no test leaves the machine.
"""

import contextlib
import datetime
import http.client
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accounts.oidc import backchannel
from accounts.oidc.backchannel import LogoutDeliveryFailed, logout_token_deliver
from harbourmaster import outbound
from harbourmaster.actors import Actor
from tenants.services import client_update

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
PUBLIC = "93.184.216.34"
NAME = "receiver.acme.example"


def deliver(client) -> bool:
    return logout_token_deliver(client=client, subject="s", sid="sid", issuer="https://hub.example")


def register(client, uri: str) -> None:
    client_update(actor=SYSTEM, client=client, changes={"backchannel_logout_uri": uri})


@pytest.fixture
def dns(monkeypatch):
    """``dns(answers...)``: NAME resolves to each answer in turn, the last one from then on."""

    def script(*answers: str) -> None:
        real, queue = socket.getaddrinfo, list(answers)

        def resolve(host, port, *args, **kwargs):
            if host != NAME:
                return real(host, port, *args, **kwargs)
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", resolve)

    return script


class Connections(list):
    """The addresses the hub connected to; with ``lead_public_here``, PUBLIC leads to
    127.0.0.1 on the same port (where a test listens). Any other connection is refused."""

    lead_public_here = False


@pytest.fixture
def connections(monkeypatch):
    made, real = Connections(), socket.create_connection

    def connect(address, *args, **kwargs):
        made.append(address[0])
        if address[0] != PUBLIC or not made.lead_public_here:
            raise ConnectionRefusedError(f"the test refuses {address[0]}")
        return real(("127.0.0.1", address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connect)
    return made


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(5)
    return sock


def serve_in_background(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


# --- Where: the address checked is the address connected to --------------------------------


def test_a_name_that_rebinds_to_loopback_is_connected_to_only_at_the_address_checked(world, dns, connections):
    loopback = listener()
    port = loopback.getsockname()[1]
    register(world.acme.app, f"https://{NAME}:{port}/logout")
    dns(PUBLIC, "127.0.0.1")  # public to the check, loopback to whoever asks next
    with contextlib.suppress(LogoutDeliveryFailed):  # the test refuses the public address
        deliver(world.acme.app)
    loopback.settimeout(0)  # the kernel queues a connection whether or not it was accepted
    with contextlib.suppress(BlockingIOError):
        loopback.accept()[0].close()
        pytest.fail("the logout POST connected to 127.0.0.1, which the check had not seen")
    loopback.close()

    assert connections == [PUBLIC]


@pytest.mark.parametrize(
    "address",
    [
        "224.0.0.251",  # multicast
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the cloud metadata address
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
def test_a_name_that_resolves_to_an_internal_address_in_disguise_is_not_connected_to(world, dns, connections, address):
    register(world.acme.app, f"https://{NAME}/logout")
    dns(address)

    assert deliver(world.acme.app) is False  # refused for good, not retried
    assert connections == []


# --- How: by the name, over TLS ------------------------------------------------------------


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """``tls_receiver(certificate_name)``: a TLS endpoint on 127.0.0.1 whose certificate, for
    ``certificate_name``, is signed by a test authority the hub trusts. It records the SNI
    and the Host header it is sent, and answers 200."""
    authority_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    authority = _certificate("Test authority", authority_key, authority_key, None, ca=True)
    (tmp_path / "ca.pem").write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setattr(outbound, "TRUSTED_AUTHORITIES", str(tmp_path / "ca.pem"))
    seen: dict[str, str] = {}
    sockets = []

    def start(certificate_name: str) -> int:
        leaf = _certificate(certificate_name, key, authority_key, authority, ca=False)
        (tmp_path / "leaf.pem").write_bytes(
            leaf.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "leaf.pem")
        context.sni_callback = lambda tls, name, _: seen.update(sni=name)  # None: go on
        sock = listener()
        sockets.append(sock)
        serve_in_background(_answer_once, sock, context, seen)
        return sock.getsockname()[1]

    start.seen = seen
    yield start
    for sock in sockets:
        sock.close()


def _answer_once(sock: socket.socket, context: ssl.SSLContext, seen: dict[str, str]) -> None:
    # A hub that refuses the certificate ends the handshake: SSLError.
    with (
        contextlib.suppress(ssl.SSLError),
        context.wrap_socket(sock.accept()[0], server_side=True) as connection,
        connection.makefile("rb") as request,
    ):
        request.readline()  # POST /logout HTTP/1.1
        headers = http.client.parse_headers(request)
        seen["host"] = headers["Host"]
        request.read(int(headers["Content-Length"]))  # all of it: closing on unread bytes resets
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def _certificate(name, key, issuer_key, issuer, *, ca: bool) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def test_the_checked_address_is_spoken_to_by_the_uris_name(world, dns, connections, tls_receiver):
    connections.lead_public_here = True
    port = tls_receiver(NAME)
    register(world.acme.app, f"https://{NAME}:{port}/logout")
    dns(PUBLIC)

    assert deliver(world.acme.app) is True
    assert connections == [PUBLIC]
    assert tls_receiver.seen == {"sni": NAME, "host": f"{NAME}:{port}"}


def test_a_certificate_for_another_name_is_refused_at_the_checked_address(world, dns, connections, tls_receiver):
    connections.lead_public_here = True
    port = tls_receiver("elsewhere.example")
    register(world.acme.app, f"https://{NAME}:{port}/logout")
    dns(PUBLIC)

    with pytest.raises(LogoutDeliveryFailed):
        deliver(world.acme.app)
    assert tls_receiver.seen == {"sni": NAME}  # the handshake happened, by the name; no request followed


# --- How long: one deadline for the whole delivery ----------------------------------------


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(world, monkeypatch):
    """Each byte comes well within any read timeout; only a total deadline ends the wait."""
    monkeypatch.setattr(backchannel, "DELIVERY_DEADLINE_SECONDS", 1, raising=False)
    sock = listener()
    port = sock.getsockname()[1]
    register(world.acme.app, f"http://127.0.0.1:{port}/logout")  # development's loopback receiver

    def drip() -> None:
        with contextlib.suppress(OSError):
            connection = sock.accept()[0]
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(30):  # six seconds of "X-Slow: ...", then the end of the headers
                connection.sendall(b"x")
                time.sleep(0.2)
            connection.sendall(b": a\r\n\r\n")
            connection.close()

    dripper = serve_in_background(drip)
    started = time.monotonic()
    with pytest.raises(LogoutDeliveryFailed):
        deliver(world.acme.app)
    elapsed = time.monotonic() - started
    sock.close()
    dripper.join(10)

    assert elapsed < 4.5  # the answer would take six seconds: cut off near the one-second deadline
