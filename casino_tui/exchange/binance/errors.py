"""Map Binance HTTP answers and transport failures onto the exchange error hierarchy (BINANCE.md §5, §6).

The one question that matters for writes: did the request possibly take effect? Timeouts, 503 "Unknown
error", -1000/-1006/-1007 say "maybe" → UnknownOutcomeError (look the order up, never resend). Reads have
no effect, so the same conditions are plainly retriable there.
"""

from __future__ import annotations

import re

import httpx
import msgspec

from casino_tui.exchange.binance.codec import ERROR_DECODER
from casino_tui.port import (
    AuthError,
    ExchangeError,
    OrderNotFoundError,
    RateLimitedError,
    RejectedError,
    RetriableError,
    UnknownOutcomeError,
)

AUTH_CODES = frozenset({-2014, -2015, -1022})
NOT_FOUND_CODES = frozenset({-2011, -2013})
UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1006, -1007})
# Definite failures the exchange asks us to retry (disconnected, throttled, stop order mid-trigger).
RETRY_CODES = frozenset({-1001, -1008, -4117})
CLOCK_CODES = frozenset({-1021, -5028})
INVALID_LISTEN_KEY = -1125

_BANNED_UNTIL = re.compile(r"banned until (\d{12,})")


class ClockSkewError(RetriableError):
    """-1021 / -5028: the timestamp fell outside recvWindow. Resync the server time, then retry once."""


def parse_error_body(body: bytes) -> tuple[int, str]:
    """(code, msg) from a Binance error body; (0, first bytes of text) if it is not the JSON form."""
    try:
        err = ERROR_DECODER.decode(body)
        return err.code, err.msg
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 0, body[:120].decode("utf-8", "replace").strip()


def retry_after_seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if value > 0 else None


def classify_response(
    status: int,
    body: bytes,
    *,
    what: str,
    is_write: bool,
    retry_after: str | None = None,
    server_now_ms: int = 0,
) -> ExchangeError:
    """The error for a non-2xx answer (or a 2xx with a negative `code`). `what` is "METHOD /path", no query."""
    code, msg = parse_error_body(body)
    text = f"{what}: HTTP {status}" + (f" code {code}" if code else "") + (f": {msg}" if msg else "")
    if status in (418, 429) or code == -1003 or code == -1015:
        banned = status == 418 or "banned" in msg.lower()
        wait = retry_after_seconds(retry_after)
        if wait is None and banned:
            match = _BANNED_UNTIL.search(msg)
            if match and server_now_ms:
                wait = max(1.0, (int(match.group(1)) - server_now_ms) / 1000)
        return RateLimitedError(text, code=code or -1003, retry_after_s=wait or 0.0, banned=banned)
    if code in AUTH_CODES or (status == 401 and not code):
        return AuthError(
            f"{what}: API key rejected by Binance (code {code or status}: {msg or 'unauthorized'})", code
        )
    if code in CLOCK_CODES:
        return ClockSkewError(text, code)
    if code in NOT_FOUND_CODES:
        return OrderNotFoundError(text, code)
    if code in UNKNOWN_OUTCOME_CODES or (status == 503 and "unknown" in msg.lower()):
        return UnknownOutcomeError(text, code) if is_write else RetriableError(text, code)
    if code in RETRY_CODES:
        return RetriableError(text, code)
    if status == 403 and not code:
        # WAF limit: back off like a rate limit rather than hammering.
        return RateLimitedError(text, code=status, retry_after_s=retry_after_seconds(retry_after) or 60.0)
    if status == 408 or status >= 500:
        # "Service Unavailable" and "Internal error" are definite failures; anything else from a gateway
        # (502/504/408 timeouts) may have reached the matching engine.
        definite = status == 503 or "internal error" in msg.lower() or "service unavailable" in msg.lower()
        if is_write and not definite:
            return UnknownOutcomeError(text, code)
        return RetriableError(text, code)
    return RejectedError(text, code)


def classify_transport(exc: httpx.HTTPError, *, what: str, is_write: bool) -> ExchangeError:
    """A failure below HTTP: connect failures never sent the request; the rest may have, for writes."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetriableError(f"{what}: not sent ({kind})")
    if isinstance(exc, httpx.TimeoutException):
        text = f"{what}: no answer in time ({kind})"
    else:
        text = f"{what}: connection failed mid-request ({kind})"
    return UnknownOutcomeError(text) if is_write else RetriableError(text)
