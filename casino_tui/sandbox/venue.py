"""The sandbox's state around the sim: credentials, faults, limits, listenKeys, the ledger, the feeds, counts."""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from casino_tui.clock import Clock
from casino_tui.model import SymbolRules
from casino_tui.port import Exchange
from casino_tui.sandbox.auth import Credentials
from casino_tui.sandbox.connection import Connection
from casino_tui.sandbox.faults import FaultAction, FaultPatch, Faults
from casino_tui.sandbox.ledger import Ledger
from casino_tui.sandbox.listenkeys import ListenKeys
from casino_tui.sandbox.market_feed import MarketFeed
from casino_tui.sandbox.numbers import SymbolFormat
from casino_tui.sandbox.traffic import RequestCounts
from casino_tui.sandbox.user_feed import UserFeed
from casino_tui.sandbox.weights import RateLimiter

log = logging.getLogger("casino.sandbox")

DEFAULT_API_KEY = "sandbox-key"
DEFAULT_API_SECRET = "sandbox-secret"


class SandboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Knobs of one sandbox; the defaults are Binance's figures (and test credentials, never real ones)."""

    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    seed: int = 7
    leverage: int = 5
    listen_key_lifetime_s: float = 3600.0
    # Server ping every 3 minutes; a client that does not pong within 10 minutes is dropped.
    ws_ping_interval_s: float = 180.0
    ws_ping_timeout_s: float = 600.0
    # Binance closes every connection after 24 hours.
    max_connection_s: float = 86_400.0
    max_incoming_per_s: int = 10
    max_streams_per_connection: int = 1024
    withdrawals_enabled: bool = False
    requests_before_ban: int = 20
    ban_s: float = 120.0


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Venue:
    """Everything a request handler needs. Registers itself as the sim's market and user sinks."""

    def __init__(
        self,
        sim: Exchange,
        clock: Clock,
        rules: dict[str, SymbolRules],
        settings: SandboxSettings,
        faults: Faults | None = None,
    ) -> None:
        self.sim = sim
        self.clock = clock
        self.settings = settings
        self.rules = rules
        self.formats = {symbol: SymbolFormat(r) for symbol, r in rules.items()}
        self.credentials = Credentials(settings.api_key, settings.api_secret)
        self.faults = faults or Faults()
        self.limiter = RateLimiter(
            monotonic_ms,
            self.server_ms,
            requests_before_ban=settings.requests_before_ban,
            ban_s=settings.ban_s,
        )
        self.listen_keys = ListenKeys(time.monotonic, settings.seed, settings.listen_key_lifetime_s)
        self.ledger = Ledger()
        self.leverage: dict[str, int] = dict.fromkeys(rules, settings.leverage)
        self.margin_type: dict[str, str] = dict.fromkeys(rules, "cross")
        self.withdrawals_enabled = settings.withdrawals_enabled
        self.market_feed = MarketFeed(self.formats, self.faults)
        self.user_feed = UserFeed(self.ledger, self.listen_keys, self.formats, self.faults, self.margin_type)
        self.connections: set[Connection] = set()
        self.requests = RequestCounts()
        sim.set_sinks(self.market_feed, self.user_feed)

    def server_ms(self) -> int:
        """The server's clock as clients see it: the sim clock, shifted by the `clock_skew_ms` fault."""
        return self.clock.now_ms() + self.faults.clock_skew_ms

    def apply_faults(self, patch: FaultPatch) -> None:
        """Change the fault switches and carry out the one-shot actions at once."""
        for action in self.faults.apply(patch):
            if action is FaultAction.DROP_SOCKETS:
                self.drop_sockets("drop_sockets fault")
            elif action is FaultAction.EXPIRE_LISTEN_KEY:
                self.user_feed.expire(self.listen_keys.expire_all(), self.server_ms())
        log.info("faults now %s", msgspec.json.encode(self.faults.status()).decode())

    def inject_position(self, symbol: str, qty: float, entry_price: float, notify: bool) -> None:
        """Set a position in the sim behind the client's back (reconcile tests); needs the sim's matching engine."""
        matching = getattr(self.sim, "matching", None)
        if matching is None:
            raise TypeError(f"{type(self.sim).__name__} cannot inject positions")
        matching.inject_position(symbol, qty, entry_price, notify=notify)

    def commission_rates(self) -> tuple[float, float]:
        """(maker, taker) fee rates the sim's matching engine charges."""
        matching = getattr(self.sim, "matching", None)
        if matching is None:
            raise TypeError(f"{type(self.sim).__name__} has no matching engine to read fees from")
        return float(matching.maker_fee), float(matching.taker_fee)

    def drop_sockets(self, reason: str) -> None:
        for conn in list(self.connections):
            conn.request_close(1001, reason)

    def drop_connection(self, stream: str, reason: str) -> int:
        """Close the connections subscribed to `stream` (one connection's loss, for tests); how many."""
        carrying = [conn for conn in self.connections if stream in conn.streams]
        for conn in carrying:
            conn.request_close(1001, reason)
        return len(carrying)

    async def housekeeping(self, interval_s: float = 0.5) -> None:
        """Expire listenKeys whose lifetime ran out: their sockets get `listenKeyExpired`, then silence."""
        while True:
            try:
                expired = self.listen_keys.due()
                if expired:
                    self.user_feed.expire(expired, self.server_ms())
            except Exception:  # housekeeping must outlive one bad round
                log.exception("sandbox housekeeping failed")
            await asyncio.sleep(interval_s)
