"""What a REST route is (method, path, security type, handler) and the parameter helpers handlers share."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from casino_tui.sandbox import errors
from casino_tui.sandbox.numbers import SymbolFormat

if TYPE_CHECKING:
    from casino_tui.sandbox.venue import Venue

CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


class Security(enum.Enum):
    """Binance's endpoint security types (general-info)."""

    NONE = "NONE"  # public
    API_KEY = "API_KEY"  # MARKET_DATA / USER_STREAM: X-MBX-APIKEY header, no signature
    SIGNED = "SIGNED"  # TRADE / USER_DATA: key + timestamp + signature


class Call:
    """One request as a handler sees it: the venue and the (authenticated) parameters."""

    def __init__(self, venue: Venue, params: dict[str, str]) -> None:
        self.venue = venue
        self.params = params

    def text(self, name: str) -> str:
        """A mandatory parameter (-1102 when missing or empty)."""
        value = self.params.get(name, "")
        if not value:
            raise errors.missing_param(name)
        return value

    def optional(self, name: str) -> str | None:
        return self.params.get(name) or None

    def symbol(self, name: str = "symbol") -> str:
        """A mandatory symbol the sandbox lists (-1121 otherwise)."""
        symbol = self.text(name)
        if symbol not in self.venue.formats:
            raise errors.invalid_symbol()
        return symbol

    def optional_symbol(self) -> str | None:
        return self.symbol() if self.params.get("symbol") else None

    def fmt(self, symbol: str) -> SymbolFormat:
        return self.venue.formats[symbol]

    def integer(self, name: str, default: int | None = None) -> int:
        raw = self.params.get(name, "")
        if not raw:
            if default is None:
                raise errors.missing_param(name)
            return default
        if not raw.lstrip("-").isdigit():
            raise errors.illegal_param(name)
        return int(raw)

    def optional_int(self, name: str) -> int | None:
        return self.integer(name) if self.params.get(name) else None

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name, "")
        if not raw:
            return default
        low = raw.lower()
        if low not in ("true", "false"):
            raise errors.illegal_param(name)
        return low == "true"

    def decimal(self, name: str) -> Decimal | None:
        """A decimal string parameter as sent (precision matters), or None; -1100 for illegal characters."""
        raw = self.params.get(name, "")
        if not raw:
            return None
        if not _DECIMAL.match(raw):
            raise errors.ApiError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
            )
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise errors.illegal_param(name) from None

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        raw = self.params.get(name, "")
        if not raw:
            if default is None:
                raise errors.missing_param(name)
            return default
        if raw not in allowed:
            raise errors.illegal_param(name)
        return raw


Handler = Callable[[Call], Awaitable[object]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    security: Security
    handler: Handler
