"""Whether a URL points at this machine: loopback URLs skip proxies and may run without `--live`."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an IPv4/IPv6 loopback address; a name that merely starts with "127." is not."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # a malformed URL (bad IPv6 literal) points nowhere local
        return False
    return host is not None and is_loopback_host(host)
