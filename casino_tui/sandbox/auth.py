"""Binance request authentication: API key header, HMAC-SHA256 over the raw bytes, and the recvWindow rule.

The signature covers the raw query string (minus its trailing `&signature=...`) concatenated directly with the
raw body (minus its trailing `&signature=...`), exactly as received: clients differ in how they escape
parameters (ccxt sends batchOrders JSON unescaped) and Binance signs bytes, never a re-encoded form.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

import msgspec

from casino_tui.sandbox import errors

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
# A request may be stamped up to this far ahead of the server's clock (general-info: "timestamp < serverTime + 1000").
MAX_AHEAD_MS = 1000


class Credentials(msgspec.Struct, frozen=True):
    """The one account's API key and HMAC secret (test credentials, never real ones)."""

    api_key: str
    secret: str


def sign(secret: str, payload: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `payload`, as Binance computes it."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def split_signature(raw: bytes) -> tuple[bytes, str | None]:
    """Split raw `a=1&b=2&signature=ff` into (`a=1&b=2`, `ff`); (raw, None) when the last parameter is not it."""
    head, amp, last = raw.rpartition(b"&")
    if not amp:
        head, last = b"", raw
    if not last.startswith(b"signature="):
        if b"signature=" in raw:
            # Present but not last: Binance requires it last, and the bytes it signs would not match.
            raise errors.invalid_signature()
        return raw, None
    return head, last[len(b"signature=") :].decode("latin-1")


def parse_params(query: bytes, body: bytes) -> dict[str, str]:
    """All parameters of a request; a parameter in both places takes the query string's value."""
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if body else {}
    if query:
        params.update(parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def check_api_key(header: str | None, credentials: Credentials) -> None:
    """-2014 when the X-MBX-APIKEY header is missing or malformed, -2015 when it names another key."""
    if not header or not header.strip() or any(c.isspace() for c in header):
        raise errors.bad_api_key_format()
    if not hmac.compare_digest(header.encode(), credentials.api_key.encode()):
        raise errors.rejected_api_key()


def check_timestamp(params: dict[str, str], server_ms: int) -> None:
    """Binance's acceptance rule: `timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow`."""
    raw_ts = params.get("timestamp", "")
    if not raw_ts.isdigit():
        raise errors.missing_param("timestamp")
    raw_window = params.get("recvWindow", "")
    if raw_window:
        if not raw_window.isdigit():
            raise errors.illegal_param("recvWindow")
        window = int(raw_window)
        if window > MAX_RECV_WINDOW_MS:
            raise errors.ApiError(-1131, "recvWindow must be less than 60000")
    else:
        window = DEFAULT_RECV_WINDOW_MS
    ts = int(raw_ts)
    if ts >= server_ms + MAX_AHEAD_MS:
        raise errors.timestamp_ahead()
    if server_ms - ts > window:
        raise errors.timestamp_outside_window()


def verify_signed(
    query: bytes, body: bytes, api_key_header: str | None, credentials: Credentials, server_ms: int
) -> dict[str, str]:
    """Authenticate a SIGNED (TRADE / USER_DATA) request and return its parameters, or raise the Binance error."""
    check_api_key(api_key_header, credentials)
    signed_query, query_sig = split_signature(query)
    signed_body, body_sig = split_signature(body) if body else (b"", None)
    signature = query_sig if query_sig is not None else body_sig
    if not signature:
        raise errors.missing_param("signature")
    expected = sign(credentials.secret, signed_query + signed_body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise errors.invalid_signature()
    params = parse_params(signed_query, signed_body)
    check_timestamp(params, server_ms)
    return params
