"""One loopback test for every URL decision (no proxy, no `--live` needed): by address, never by prefix."""

import pytest

from casino_tui.exchange.loopback import is_loopback_host, is_loopback_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "ws://127.0.0.1:8765/ws",
        "http://127.12.0.9",
        "http://localhost:8765",
        "http://LOCALHOST",
        "http://[::1]:8765",
    ],
)
def test_loopback_addresses_count_as_local(url):
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.example.com",
        "https://127.0.0.1.attacker.net",
        "https://fapi.binance.com",
        "wss://fstream.binance.com",
        "http://10.0.0.1:8765",
        "http://[::2]",
        "http://[not-ipv6",
        "",
        "127.0.0.1:8765",  # no scheme: no host either
    ],
)
def test_names_and_remote_addresses_are_not_loopback(url):
    assert not is_loopback_url(url)


def test_host_check_accepts_a_bracketed_ipv6_literal():
    assert is_loopback_host("[::1]") and not is_loopback_host("127.evil")
