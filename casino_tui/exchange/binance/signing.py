"""HMAC-SHA256 request signing for Binance (BINANCE.md §2) and credentials that never print themselves.

Binance signs the exact bytes it receives (query string, then body, no separator), and `signature` must be
the last parameter. We therefore build the encoded parameter string once, sign it, and send those bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote

ParamValue = str | int | float | bool

# Characters Binance allows unescaped in client ids (`^[\.A-Z\:/a-z0-9_-]{1,36}$`) stay readable on the wire.
_SAFE = "-_.:/"


def encode_params(params: Mapping[str, ParamValue] | Iterable[tuple[str, ParamValue]]) -> str:
    """`k=v&k=v` in the given order; booleans as `true`/`false`, everything else percent-encoded."""
    items = params.items() if isinstance(params, Mapping) else params
    parts = []
    for key, value in items:
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        parts.append(f"{quote(key, safe=_SAFE)}={quote(text, safe=_SAFE)}")
    return "&".join(parts)


def sign(secret: str, payload: str) -> str:
    """hex(HMAC_SHA256(secret, payload)), as Binance expects for HMAC keys."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class Credentials:
    """An API key and secret. `repr`/`str` show only a short key prefix; the secret is never exposed."""

    __slots__ = ("_key", "_secret")

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._key = api_key
        self._secret = api_secret

    @property
    def api_key(self) -> str:
        return self._key

    def sign(self, payload: str) -> str:
        return sign(self._secret, payload)

    def signed(self, payload: str) -> str:
        """`payload&signature=<hex>`: the signature appended last, as Binance requires."""
        signature = sign(self._secret, payload)
        return f"{payload}&signature={signature}" if payload else f"signature={signature}"

    def secrets(self) -> tuple[str, ...]:
        """The strings a redaction pass must remove (key and secret)."""
        return tuple(s for s in (self._key, self._secret) if s)

    def __repr__(self) -> str:
        shown = self._key[:4] + "…" if len(self._key) > 8 else "…"
        return f"Credentials(api_key={shown!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Credentials cannot be pickled")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (key, secret, signature, listenKey) replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


_WIRE_SECRETS = re.compile(r"(signature=|listenKey=|/ws/)([^&\s\"'<>]{8,})")


class SecretFilter(logging.Filter):
    """Scrubs signatures, listenKeys and registered secrets from records of the loggers it is attached to.

    Attached to the third-party loggers that print request URLs (httpx logs every request line at INFO;
    websockets logs the handshake at DEBUG), so a verbose log level can never leak them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._watchers: list[Callable[[str], None]] = []

    def add(self, *secrets: str) -> None:
        for secret in secrets:
            if secret and secret not in self._secrets:
                self._secrets.add(secret)
                for watcher in self._watchers:
                    watcher(secret)

    def watch(self, hide: Callable[[str], None]) -> None:
        """Call `hide` with every secret known now and with each one added later (a new listenKey)."""
        self._watchers.append(hide)
        for secret in self._secrets:
            hide(secret)

    def discard(self, *secrets: str) -> None:
        for s in secrets:
            self._secrets.discard(s)

    def scrub(self, text: str) -> str:
        return redact(_WIRE_SECRETS.sub(r"\1***", text), self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg = clean
            record.args = ()
        return True


# Logger filters see only records made by that very logger (not its children), hence the full names.
WIRE_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "websockets.client",
    "casino.binance.wire",
    "casino.binance.rest",
    "casino.binance.streams",
    "casino.binance.user",
    "casino.binance",
)


def install_secret_filter(secret_filter: SecretFilter, loggers: Iterable[str] = WIRE_LOGGERS) -> None:
    """Attach `secret_filter` to `loggers` (idempotent)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if secret_filter not in logger.filters:
            logger.addFilter(secret_filter)


def remove_secret_filter(secret_filter: SecretFilter, loggers: Iterable[str] = WIRE_LOGGERS) -> None:
    for name in loggers:
        logging.getLogger(name).removeFilter(secret_filter)
