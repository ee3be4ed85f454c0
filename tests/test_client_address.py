"""The address every limit a stranger can hit counts (harbourmaster/client_address.py): the
client behind TRUSTED_PROXY_COUNT proxies, IPv6 by its /64, the same for allauth's limits.
What each limit does with it is tested with the limit (tests/api, tests/oidc, guests)."""

from unittest import mock

import pytest
from allauth.core.internal.ratelimit import get_ip
from django.test import RequestFactory

from harbourmaster import client_address as module
from harbourmaster.client_address import client_address, client_address_key

BALANCER, CLIENT = "10.0.0.5", "203.0.113.7"


def request_from(peer: str, forwarded_for: str | None = None):
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    return RequestFactory().get("/", REMOTE_ADDR=peer, **headers)


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        (CLIENT, CLIENT),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::"),
        ("::ffff:203.0.113.7", CLIENT),  # IPv4 through an IPv6 socket: not the /64 of every such caller
    ],
    ids=["ipv4", "ipv6", "ipv6_upper_case", "ipv4_mapped"],
)
def test_a_direct_caller_is_counted_by_its_address_and_ipv6_by_its_64(settings, peer, key):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    request = request_from(peer, forwarded_for="192.0.2.1")  # not trusted: no proxy in front
    assert client_address_key(request) == key


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "key"),
    [
        (1, CLIENT, CLIENT),
        (1, f"192.0.2.1, {CLIENT}", CLIENT),  # entries left of the balancer's are the caller's own
        (2, f"192.0.2.1, {CLIENT}, 10.0.0.9", CLIENT),
        (1, "2001:db8:1:2::7", "2001:db8:1:2::"),
        (1, f"{CLIENT}:4711", CLIENT),  # some balancers add the port
        (1, "[2001:db8:1:2::7]:443", "2001:db8:1:2::"),
    ],
)
def test_behind_proxies_the_client_is_the_entry_the_outermost_proxy_appended(settings, proxies, forwarded_for, key):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = proxies
    assert client_address_key(request_from(BALANCER, forwarded_for)) == key


@pytest.mark.parametrize("forwarded_for", [None, "", CLIENT], ids=["no_header", "empty", "shorter_than_the_count"])
def test_without_a_full_forwarded_for_the_peer_is_the_client(settings, forwarded_for):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    assert client_address_key(request_from("198.51.100.9", forwarded_for)) == "198.51.100.9"


def test_an_unclosed_bracket_is_no_address(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    request = request_from(BALANCER, "[2001:db8:1:2::7")
    assert client_address(request) is None
    assert client_address_key(request) == "[2001:db8:1:2::7"  # counted as it came


def test_a_short_forwarded_for_is_logged_once(settings, monkeypatch):
    """The operator hears of a miscounted setting, but not on every request."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    monkeypatch.setattr(module, "_short_forwarded_for_logged", False)
    with mock.patch.object(module.logger, "warning") as warning:
        for _ in range(2):
            client_address_key(request_from("198.51.100.9", CLIENT))
    warning.assert_called_once_with("X-Forwarded-For holds fewer addresses than TRUSTED_PROXY_COUNT: check the setting")


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded_for"),
    [
        (0, CLIENT, None),
        (0, "2001:db8:1:2::7", None),
        (0, "::ffff:203.0.113.7", None),
        (1, BALANCER, f"192.0.2.1, {CLIENT}"),
        (1, BALANCER, "2001:db8:1:2::7"),
        (2, "198.51.100.9", CLIENT),
    ],
)
def test_allauths_sign_in_limits_count_the_same_address(settings, proxies, peer, forwarded_for):
    """allauth's per-IP limits ask the hub's adapter, then cut IPv6 to the /64 themselves."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = proxies
    request = request_from(peer, forwarded_for)
    assert get_ip(request) == client_address_key(request)


def test_allauth_is_told_the_whole_address(settings):
    """allauth's notification mails name the client's address itself, not its network."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    assert client_address(request_from(BALANCER, "2001:DB8:1:2::7")) == "2001:db8:1:2::7"
    assert client_address(request_from(BALANCER, "not an address")) is None
