"""Engine: the MarketSink that turns trades into stream stats and candles, and candles into batches.

`on_trade` is the hot path: a dict lookup, a validity check and two direct calls, no allocation, no logging,
and it never raises (an exchange receive loop must not die on one bad trade). Closed candle batches go to
`on_candles` from `tick_timer`, which the runtime calls a few times a second: the Engine is the CandleBook's
one consumer, and `on_candles` is the Engine's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping

import msgspec

from casino_tui.clock import Clock
from casino_tui.engine.candles import CandleBook
from casino_tui.engine.streams import StreamStats
from casino_tui.model import Candle, Trade

log = logging.getLogger("casino.engine")

OnCandles = Callable[[str, int, list[Candle]], None]

_INF = math.inf


class EngineCounters(msgspec.Struct, frozen=True):
    """Totals since start. `dropped` = malformed trades; `late` = trades for an already closed interval."""

    ticks: int = 0
    unknown: int = 0
    dropped: int = 0
    late: int = 0
    errors: int = 0
    candles_closed: int = 0
    batches: int = 0
    marks: int = 0
    consumer_errors: int = 0


class StreamStatus(msgspec.Struct, frozen=True):
    """The last known state of one exchange stream, for the UI and the STALE banner."""

    stream: str
    connected: bool
    reason: str
    since_ms: int
    disconnects: int = 0


class Engine:
    """Market-data half of the engine: implements MarketSink, owns nothing but counters and wiring.

    The CandleBook's closes come to the engine (counted, sparks updated) and go on to `on_candles`, whose
    errors are logged and contained. The book must have no consumer of its own (`CandleBook.connect`).
    """

    def __init__(
        self,
        symbols: Iterable[str],
        clock: Clock,
        candle_book: CandleBook,
        stream_stats: StreamStats,
        on_candles: OnCandles | None = None,
    ) -> None:
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        self.clock = clock
        self.candles = candle_book
        self.streams = stream_stats
        self._on_candles = on_candles
        candle_book.connect(self._candles_closed)
        self._routes = {sym: (stream_stats.handle(sym), candle_book.handle(sym)) for sym in self.symbols}
        self._record = stream_stats.record
        self._update = candle_book.update
        self.unknown = 0
        self.dropped = 0
        self.errors = 0
        self.marks = 0
        self.batches = 0
        self.consumer_errors = 0
        self._status: dict[str, StreamStatus] = {}

    # ---- MarketSink -----------------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        """Update stream stats and the symbol's open 1m candle; bad input is counted, never raised."""
        try:
            route = self._routes.get(trade.symbol)
            if route is None:
                self.unknown += 1
                return
            price = trade.price
            qty = trade.qty
            # Chained comparisons are False for NaN, so this also rejects NaN.
            if not (0.0 < price < _INF and 0.0 <= qty < _INF):
                self.dropped += 1
                return
            ts = trade.ts_ms
            self._record(route[0], price, ts)
            self._update(route[1], price, qty, ts)
        except Exception:
            # Wrong types in a hand-built trade, or a consumer raising during a forced candle close.
            self.errors += 1

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        """Keep the latest mark price; unknown symbols and non-finite prices are ignored."""
        try:
            if 0.0 < price < _INF and self.streams.record_mark(symbol, price, ts_ms):
                self.marks += 1
        except Exception:
            self.errors += 1

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        """Record a stream connecting or dropping, for the UI and the STALE banner."""
        previous = self._status.get(stream)
        disconnects = previous.disconnects if previous else 0
        if not connected and (previous is None or previous.connected):
            disconnects += 1
        self._status[stream] = StreamStatus(stream, connected, reason, self.clock.now_ms(), disconnects)
        if connected:
            log.info("stream %s connected%s", stream, f": {reason}" if reason else "")
        else:
            log.warning("stream %s disconnected: %s", stream, reason or "no reason given")

    # ---- timer and candles ----------------------------------------------------------------------------

    def tick_timer(self, now_ms: int | None = None) -> int:
        """Sample stream stats and close every due candle boundary; returns the number of batches emitted."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        self.streams.observe(now)
        return self.candles.close_due(now)

    def seed(self, history: Mapping[str, list[Candle]]) -> None:
        """Load 1m history into the CandleBook and the sparks, so live candles continue from it."""
        self.candles.seed(history)
        for symbol in self.symbols:
            self.streams.add_closes(self.candles.recent("1m", symbol, 60))

    def _candles_closed(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        self.batches += 1
        if timeframe == "1m":
            self.streams.add_closes(candles)
        if self._on_candles is None:
            return
        try:
            self._on_candles(timeframe, open_ms, candles)
        except Exception:
            self.consumer_errors += 1
            log.exception(
                "candle consumer failed on %s batch at %d (%d candles)", timeframe, open_ms, len(candles)
            )

    # ---- views ----------------------------------------------------------------------------------------

    @property
    def ticks(self) -> int:
        """Trades accepted (known symbol, valid price and quantity)."""
        return self.streams.total_ticks

    @property
    def candles_closed(self) -> int:
        """Candles emitted on every timeframe."""
        return self.candles.candles_closed

    def counters(self) -> EngineCounters:
        return EngineCounters(
            ticks=self.streams.total_ticks,
            unknown=self.unknown,
            dropped=self.dropped,
            late=self.candles.late,
            errors=self.errors,
            candles_closed=self.candles.candles_closed,
            batches=self.batches,
            marks=self.marks,
            consumer_errors=self.consumer_errors,
        )

    def stream_status(self) -> tuple[StreamStatus, ...]:
        """Every stream reported so far, sorted by name."""
        return tuple(self._status[name] for name in sorted(self._status))

    def is_stale(self, now_ms: int, after_s: float) -> tuple[bool, str]:
        """(True, reason) when a stream is disconnected or no trade has arrived for `after_s` wall seconds."""
        down = [s for s in self._status.values() if not s.connected]
        if down:
            first = min(down, key=lambda s: s.since_ms)
            more = f" (+{len(down) - 1} more)" if len(down) > 1 else ""
            return True, f"stream {first.stream} disconnected: {first.reason or 'no reason given'}{more}"
        return self.streams.is_stale(now_ms, after_s)
