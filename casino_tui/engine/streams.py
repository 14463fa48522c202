"""StreamStats: per-symbol market-data health and prices for the Streams pane and the STALE banner.

Per tick the only work is a few stores and an increment (`record`). Everything derived — ticks/s, the
local receipt time behind `age_s` — is worked out from coarse samples taken by `observe(now_ms)`, which
the engine's timer calls a few times a second and `rows()` calls on demand.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import msgspec

from casino_tui.clock import Clock
from casino_tui.model import Candle
from casino_tui.snapshot import StreamRow

SPARK_LEN = 60


class SymbolStream(msgspec.Struct, frozen=True):
    """Everything known about one symbol's stream, for callers that need more than a StreamRow."""

    symbol: str
    last: float  # 0.0 until the first trade
    first: float  # the session's first trade price (0.0 until then)
    ticks: int
    last_trade_ms: int  # exchange time of the newest trade (0 until then)
    received_ms: int  # clock time at which the newest trade was observed (session start until then)
    mark: float = 0.0
    mark_ms: int = 0


class _Stream:
    __slots__ = (
        "symbol",
        "last",
        "first",
        "count",
        "exch_ms",
        "seen_count",
        "recv_ms",
        "mark",
        "mark_ms",
        "spark",
    )

    def __init__(self, symbol: str, start_ms: int) -> None:
        self.symbol = symbol
        self.last = 0.0
        self.first = 0.0
        self.count = 0
        self.exch_ms = 0
        self.seen_count = 0
        self.recv_ms = start_ms
        self.mark = 0.0
        self.mark_ms = 0
        self.spark: deque[float] = deque(maxlen=SPARK_LEN)


class StreamStats:
    """Last price, session change, ticks/s, message age and a spark of 1m closes for each symbol.

    Ages and rates are in wall seconds: clock milliseconds divided by the clock's `speed`, so a sim running
    30x shows how the data flows to the operator. Receipt times have the resolution of `observe` calls.
    """

    def __init__(
        self, symbols: Iterable[str], clock: Clock, *, bucket_ms: int = 1_000, window_ms: int = 10_000
    ) -> None:
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        self._clock = clock
        start = clock.now_ms()
        self._start_ms = start
        self._streams = [_Stream(sym, start) for sym in self.symbols]
        self._by_symbol = {s.symbol: s for s in self._streams}
        self._bucket_ms = bucket_ms
        # (clock ms, tick counts per symbol): enough buckets to span the rate window.
        self._samples: deque[tuple[int, list[int]]] = deque(maxlen=max(2, window_ms // bucket_ms + 1))
        self._samples.append((start, [0] * len(self._streams)))
        self._observed_ms = start

    # ---- hot path -------------------------------------------------------------------------------------

    def handle(self, symbol: str) -> _Stream:
        """The slot `record` takes for `symbol` (resolve once, keep it)."""
        return self._by_symbol[symbol]

    @staticmethod
    def record(stream: _Stream, price: float, ts_ms: int) -> None:
        """Count one trade and keep its price and exchange time."""
        n = stream.count
        if not n:
            stream.first = price
        stream.count = n + 1
        stream.last = price
        stream.exch_ms = ts_ms

    def add_trade(self, symbol: str, price: float, ts_ms: int) -> None:
        """Convenience for callers without a handle; raises KeyError for an unknown symbol."""
        self.record(self._by_symbol[symbol], price, ts_ms)

    def record_mark(self, symbol: str, price: float, ts_ms: int) -> bool:
        """Keep the latest mark price; False for an unknown symbol."""
        stream = self._by_symbol.get(symbol)
        if stream is None:
            return False
        stream.mark = price
        stream.mark_ms = ts_ms
        return True

    def add_closes(self, candles: Iterable[Candle]) -> None:
        """Append closed 1m candles' closes to the sparks (the engine calls this per 1m batch)."""
        by_symbol = self._by_symbol
        for candle in candles:
            stream = by_symbol.get(candle.symbol)
            if stream is not None:
                stream.spark.append(candle.close)

    # ---- coarse sampling --------------------------------------------------------------------------------

    def observe(self, now_ms: int) -> None:
        """Stamp symbols that traded since the last call with `now_ms` and take a rate sample per bucket."""
        if now_ms < self._observed_ms:
            return
        self._observed_ms = now_ms
        for stream in self._streams:
            count = stream.count
            if count != stream.seen_count:
                stream.seen_count = count
                stream.recv_ms = now_ms
        if now_ms - self._samples[-1][0] >= self._bucket_ms:
            self._samples.append((now_ms, [s.count for s in self._streams]))

    def _per_wall_s(self, ms: float) -> float:
        return ms / 1000.0 / (self._clock.speed or 1.0)

    # ---- queries --------------------------------------------------------------------------------------

    def rows(
        self, now_ms: int | None = None, degraded: frozenset[str] = frozenset()
    ) -> tuple[StreamRow, ...]:
        """One StreamRow per symbol, in configuration order; `degraded` symbols have lost their connection."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        self.observe(now)
        base_ms, base_counts = self._samples[0]
        span_s = self._per_wall_s(now - base_ms)
        rows = []
        for stream, base in zip(self._streams, base_counts, strict=True):
            rate = (stream.count - base) / span_s if span_s > 0 else 0.0
            first = stream.first
            change = (stream.last - first) / first * 100.0 if first > 0 else 0.0
            rows.append(
                StreamRow(
                    symbol=stream.symbol,
                    last=stream.last,
                    change_pct=change,
                    ticks_per_s=rate,
                    age_s=max(0.0, self._per_wall_s(now - stream.recv_ms)),
                    spark=tuple(stream.spark),
                    is_degraded=stream.symbol in degraded,
                )
            )
        return tuple(rows)

    def get(self, symbol: str) -> SymbolStream:
        """Details of one symbol, including exchange time of its last trade and its mark price."""
        s = self._by_symbol[symbol]
        return SymbolStream(s.symbol, s.last, s.first, s.count, s.exch_ms, s.recv_ms, s.mark, s.mark_ms)

    def exchange_age_s(self, symbol: str, now_ms: int) -> float:
        """Seconds (wall) between `now_ms` and the exchange time of the symbol's last trade; inf if none."""
        s = self._by_symbol[symbol]
        return self._per_wall_s(now_ms - s.exch_ms) if s.count else math.inf

    def mark(self, symbol: str) -> float | None:
        """Latest mark price of `symbol`, or None if none has arrived."""
        s = self._by_symbol.get(symbol)
        return s.mark if s is not None and s.mark_ms else None

    def marks(self) -> dict[str, float]:
        """Latest mark price of every symbol that has one."""
        return {s.symbol: s.mark for s in self._streams if s.mark_ms}

    def last_price(self, symbol: str) -> float | None:
        """Latest trade price of `symbol`, or None before its first trade (or for an unknown symbol)."""
        s = self._by_symbol.get(symbol)
        return s.last if s is not None and s.count else None

    def last_prices(self) -> dict[str, float]:
        """Latest trade price of every symbol that has traded."""
        return {s.symbol: s.last for s in self._streams if s.count}

    @property
    def total_ticks(self) -> int:
        return sum(s.count for s in self._streams)

    def is_stale(self, now_ms: int, after_s: float) -> tuple[bool, str]:
        """(True, reason) when no symbol has delivered a trade for more than `after_s` wall seconds."""
        self.observe(now_ms)
        if not self._streams:
            return False, ""
        traded = [s for s in self._streams if s.count]
        if not traded:
            age = self._per_wall_s(now_ms - self._start_ms)
            return (True, f"no market data since start ({age:.0f}s)") if age > after_s else (False, "")
        newest = max(s.recv_ms for s in traded)
        age = self._per_wall_s(now_ms - newest)
        if age > after_s:
            return True, f"no trades for {age:.0f}s on any of {len(self._streams)} symbols"
        return False, ""
