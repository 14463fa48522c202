"""The one interface the engine uses to talk to an exchange (sim, Binance, sandbox-backed Binance).

Streams are push-based: the engine registers a `MarketSink` and a `UserSink` before `start()`, and the
exchange calls them directly from its receive loop (no task, no queue per tick). Requests are coroutines.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from casino_tui.model import (
    AccountUpdate,
    Balance,
    Candle,
    OrderRequest,
    OrderUpdate,
    Position,
    SymbolRules,
    Trade,
)


class ExchangeError(Exception):
    """Base of every exchange-layer error. Messages never contain keys, secrets or signatures."""

    code: int = 0

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class RetriableError(ExchangeError):
    """A definite failure that is safe to repeat (5xx 'Service Unavailable', -1001, -1008, -1021 after resync)."""


class UnknownOutcomeError(ExchangeError):
    """The request may or may not have taken effect (timeout, 503 'Unknown error', -1007). Never resend blindly."""


class RejectedError(ExchangeError):
    """The exchange refused the request as sent (filters, margin, -2022, -4164 ...). Do not repeat it."""


class OrderNotFoundError(RejectedError):
    """The order is unknown to the exchange (-2011 on cancel, -2013 on query)."""


class RateLimitedError(RetriableError):
    """429 or 418: back off until `retry_after_s`."""

    def __init__(
        self, message: str, code: int = 0, retry_after_s: float = 60.0, banned: bool = False
    ) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s
        self.banned = banned


class BreakerOpenError(ExchangeError):
    """The circuit breaker of this endpoint group is open; the request was not sent."""


class AuthError(ExchangeError):
    """Bad key, bad signature or missing permission. Fatal for the session."""


class MarketSink(Protocol):
    def on_trade(self, trade: Trade) -> None: ...

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None: ...

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None: ...


class UserSink(Protocol):
    def on_order_update(self, update: OrderUpdate) -> None: ...

    def on_account_update(self, update: AccountUpdate) -> None: ...


class BreakerStatus(enum.StrEnum):
    """CLOSED lets calls through; OPEN refuses them until its cooldown ends; HALF_OPEN lets a few trials through."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class BreakerState(msgspec.Struct, frozen=True):
    """One circuit breaker as the Breakers pane shows it."""

    name: str
    state: BreakerStatus
    failures: int = 0
    reason: str = ""
    cooldown_s: float = 0.0


class StreamConnection(msgspec.Struct, frozen=True):
    """One WebSocket connection of the exchange adapter: the market symbols it carries ("" symbols for the
    user-data socket), whether it is up, how often it connected and why it last went down."""

    name: str
    connected: bool
    symbols: tuple[str, ...] = ()
    connects: int = 0
    last_error: str = ""


class ExchangeHealth(msgspec.Struct, frozen=True):
    """Breakers, rate-limit headroom and stream connections; the sim reports its own (always healthy) figures."""

    breakers: tuple[BreakerState, ...] = ()
    used_weight_1m: int = 0
    weight_limit_1m: int = 2400
    order_count_10s: int = 0
    order_limit_10s: int = 300
    order_count_1m: int = 0
    order_limit_1m: int = 1200
    errors: int = 0
    streams: tuple[StreamConnection, ...] = ()


class KeyPermissions(msgspec.Struct, frozen=True):
    """What the API key may do, as the exchange reports it. `checked` is False where the exchange cannot tell
    (the futures testnet has no permissions endpoint; a testnet key moves no money)."""

    can_trade_futures: bool
    can_withdraw: bool
    checked: bool = True


class Exchange(Protocol):
    """What every exchange implementation provides. `name` is 'sim', 'binance-testnet' or 'binance'."""

    name: str
    is_live: bool

    def set_sinks(self, market: MarketSink, user: UserSink) -> None:
        """Register the receivers of stream events; call before `start()`."""
        ...

    def share_secrets(self, hide: Callable[[str], None]) -> None:
        """Call `hide` with every secret the exchange holds (API key, secret) and later mints (listenKeys),
        so the logs can redact them wherever they appear."""
        ...

    async def start(self, symbols: list[str]) -> None:
        """Connect (or begin simulating) and start streaming trades for `symbols` and user events."""
        ...

    async def start_market(self, symbols: list[str]) -> None:
        """Stream market data only: no listenKey, nothing that can trade. `start()` later adds the account."""
        ...

    async def stop(self) -> None: ...

    async def server_time_ms(self) -> int: ...

    async def symbol_rules(self) -> dict[str, SymbolRules]: ...

    async def klines(
        self, symbol: str, timeframe: str, limit: int, end_ms: int | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, ending before `end_ms` (default now)."""
        ...

    async def tickers(self) -> dict[str, float]:
        """Last price of every symbol in one request."""
        ...

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Submit a plain (MARKET/LIMIT) or conditional (STOP_MARKET/TAKE_PROFIT_MARKET) order; returns the ack."""
        ...

    async def cancel_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate: ...

    async def get_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        """The order's current state by client id, or None if the exchange does not know it."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Open plain orders and open (untriggered) conditional orders, together."""
        ...

    async def positions(self) -> list[Position]:
        """Non-zero positions only."""
        ...

    async def balance(self) -> Balance: ...

    def health(self) -> ExchangeHealth: ...

    async def key_permissions(self) -> KeyPermissions | None:
        """The key's rights, or None where no key is used (the simulated exchange)."""
        ...

    async def is_hedge_mode(self) -> bool:
        """True if the account holds dual-side positions; the engine needs one-way mode."""
        ...

    def pump(self, until_ms: int | None = None) -> int:
        """Advance a simulated market to `until_ms` (default the clock) and deliver its events (tests and replays drive a
        ManualClock); a real exchange streams by itself and returns 0."""
        ...

    def reopen_breakers(self, saved: dict[str, Any]) -> None:
        """Re-open the breakers that were OPEN at the last snapshot (`BreakerState` fields by name) for the
        rest of their cooldown; an exchange without breakers ignores it."""
        ...
