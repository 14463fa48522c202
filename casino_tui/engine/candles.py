"""CandleBook: 1m candles built from trades, higher timeframes aggregated from closed 1m candles.

The per-tick path touches only the open 1m candle of the trade's symbol (plain floats in a slotted object).
Closing is per boundary, across all symbols: a trade of a later interval only parks its symbol's finished
candle; `close_due(now_ms)` emits the whole boundary as one batch once `now_ms` passes its end plus a grace,
closing the symbols still open there and giving quiet symbols a flat candle at their last close. Trades for
an interval that was already emitted are counted as late and dropped; a candle is never reopened.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping

from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle

OnClose = Callable[[str, int, list[Candle]], None]

_MINUTE_MS = 60_000


class _OpenCandle:
    """The open 1m candle of one symbol. Idle (no trade yet in `start`'s interval) when `n == 0`; an idle
    slot keeps `end == start` so that the next trade takes the rare path and opens the candle properly."""

    __slots__ = ("index", "symbol", "start", "end", "o", "h", "l", "c", "v", "n", "last_close")

    def __init__(self, index: int, symbol: str) -> None:
        self.index = index
        self.symbol = symbol
        self.start = 0
        self.end = 0
        self.o = self.h = self.l = self.c = self.v = 0.0
        self.n = 0
        self.last_close: float | None = None


class _Aggregate:
    """A higher-timeframe candle being built from closed 1m candles (`n` counts the 1m candles in it)."""

    __slots__ = ("start", "o", "h", "l", "c", "v", "trades", "n")

    def __init__(self) -> None:
        self.start = -1
        self.o = self.h = self.l = self.c = self.v = 0.0
        self.trades = 0
        self.n = 0

    def add(self, candle: Candle, start: int) -> None:
        if self.start != start or self.n == 0:
            # A new period; leftovers of an older one cannot exist because every 1m boundary is emitted in order.
            self.start = start
            self.o, self.h, self.l = candle.open, candle.high, candle.low
            self.v = candle.volume
            self.trades = candle.trades
            self.n = 1
        else:
            if candle.high > self.h:
                self.h = candle.high
            if candle.low < self.l:
                self.l = candle.low
            self.v += candle.volume
            self.trades += candle.trades
            self.n += 1
        self.c = candle.close


class CandleBook:
    """Per-symbol OHLCV candles for `timeframes` (1m must be first), handed out in one batch per boundary.

    `on_close(timeframe, open_ms, candles)` receives every symbol's candle of one boundary (symbols with no
    price yet are left out), 1m first and then each higher timeframe that boundary completes. `grace_ms`
    delays the close so trades stamped just before a boundary (exchange vs local clock) still count.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        timeframes: Iterable[str] = TIMEFRAMES,
        on_close: OnClose | None = None,
        *,
        grace_ms: int = 0,
        history: int = 500,
        max_pending: int = 5,
    ) -> None:
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        self.timeframes: tuple[str, ...] = tuple(timeframes)
        if not self.timeframes or self.timeframes[0] != "1m":
            raise ValueError("timeframes must start with '1m'")
        for tf in self.timeframes:
            if tf not in TIMEFRAME_MS:
                raise ValueError(f"unknown timeframe {tf!r}")
        self._on_close = on_close
        self.grace_ms = grace_ms
        self.late = 0
        self.candles_closed = 0
        self._slots = [_OpenCandle(i, sym) for i, sym in enumerate(self.symbols)]
        self._by_symbol = {s.symbol: s for s in self._slots}
        self._higher = [(tf, TIMEFRAME_MS[tf]) for tf in self.timeframes[1:]]
        self._aggregates = {tf: [_Aggregate() for _ in self._slots] for tf, _ in self._higher}
        self._recent: dict[str, list[deque[Candle]]] = {
            tf: [deque(maxlen=history) for _ in self._slots] for tf in self.timeframes
        }
        # 1m candles finished by a later trade, waiting for their boundary's batch: open_ms -> slot -> candle.
        self._pending: dict[int, dict[int, Candle]] = {}
        self._max_pending = max_pending
        # Open time of the next boundary to emit; None until the first trade (or seed) fixes it.
        self._next_emit: int | None = None
        self._has_emitted = False

    def connect(self, on_close: OnClose) -> None:
        """Name the book's one consumer, for a book built without one; a second consumer is refused (it would
        silently take the batches from the first)."""
        if self._on_close is not None:
            raise ValueError("this CandleBook already has a consumer")
        self._on_close = on_close

    # ---- hot path -------------------------------------------------------------------------------------

    def handle(self, symbol: str) -> _OpenCandle:
        """The slot `update` takes for `symbol` (resolve once, keep it)."""
        return self._by_symbol[symbol]

    def update(self, slot: _OpenCandle, price: float, qty: float, ts_ms: int) -> None:
        """Apply one trade to its symbol's open 1m candle."""
        if slot.start <= ts_ms < slot.end:
            slot.c = price
            if price > slot.h:
                slot.h = price
            elif price < slot.l:
                slot.l = price
            slot.v += qty
            slot.n += 1
            return
        self._roll(slot, price, qty, ts_ms)

    def add_trade(self, symbol: str, price: float, qty: float, ts_ms: int) -> None:
        """Convenience for callers without a handle; raises KeyError for an unknown symbol."""
        self.update(self._by_symbol[symbol], price, qty, ts_ms)

    def _roll(self, slot: _OpenCandle, price: float, qty: float, ts_ms: int) -> None:
        if ts_ms < slot.start:
            self.late += 1
            return
        start = ts_ms - ts_ms % _MINUTE_MS
        if slot.n:
            finished = Candle(slot.symbol, "1m", slot.start, slot.o, slot.h, slot.l, slot.c, slot.v, slot.n)
            self._pending.setdefault(slot.start, {})[slot.index] = finished
        slot.start = start
        slot.end = start + _MINUTE_MS
        slot.o = slot.h = slot.l = slot.c = price
        slot.v = qty
        slot.n = 1
        if not self._has_emitted and (self._next_emit is None or start < self._next_emit):
            self._next_emit = start
        if len(self._pending) > self._max_pending:
            # Nobody is calling close_due (or one symbol runs far ahead): emit the oldest boundaries so the
            # parked candles stay bounded.
            self._emit_until(min(self._pending) + _MINUTE_MS)

    # ---- closing --------------------------------------------------------------------------------------

    def close_due(self, now_ms: int) -> int:
        """Emit every boundary whose end + grace is at or before `now_ms`; returns the number of batches."""
        return self._emit_until(now_ms - self.grace_ms)

    def _emit_until(self, limit_ms: int) -> int:
        batches = 0
        while self._next_emit is not None and self._next_emit + _MINUTE_MS <= limit_ms:
            open_ms = self._next_emit
            # Advance first: the book stays consistent even if a consumer raises during delivery.
            self._next_emit = open_ms + _MINUTE_MS
            self._has_emitted = True
            closed = self._close_boundary(open_ms)
            for tf, tf_open_ms, batch in closed:
                self.candles_closed += len(batch)
                if self._on_close is not None:
                    self._on_close(tf, tf_open_ms, batch)
            batches += len(closed)
        return batches

    def _close_boundary(self, open_ms: int) -> list[tuple[str, int, list[Candle]]]:
        """Close every symbol at the 1m boundary `open_ms`, plus the higher timeframes it completes."""
        end = open_ms + _MINUTE_MS
        parked = self._pending.pop(open_ms, None)
        recent_1m = self._recent["1m"]
        batch: list[Candle] = []
        for slot in self._slots:
            candle = parked.get(slot.index) if parked else None
            if candle is None:
                if slot.n and slot.start == open_ms:
                    candle = Candle(
                        slot.symbol, "1m", open_ms, slot.o, slot.h, slot.l, slot.c, slot.v, slot.n
                    )
                    slot.n = 0
                elif slot.last_close is not None:
                    last = slot.last_close
                    candle = Candle(slot.symbol, "1m", open_ms, last, last, last, last, 0.0, 0)
            if slot.n == 0 and slot.start < end:
                slot.start = slot.end = end
            if candle is None:
                continue
            slot.last_close = candle.close
            recent_1m[slot.index].append(candle)
            batch.append(candle)
            for tf, tf_ms in self._higher:
                self._aggregates[tf][slot.index].add(candle, open_ms - open_ms % tf_ms)
        closed: list[tuple[str, int, list[Candle]]] = []
        if batch:
            closed.append(("1m", open_ms, batch))
        for tf, tf_ms in self._higher:
            if end % tf_ms == 0:
                higher = self._close_higher(tf, end - tf_ms)
                if higher:
                    closed.append((tf, end - tf_ms, higher))
        return closed

    def _close_higher(self, tf: str, open_ms: int) -> list[Candle]:
        recent = self._recent[tf]
        batch: list[Candle] = []
        for slot, agg in zip(self._slots, self._aggregates[tf], strict=True):
            if agg.n and agg.start == open_ms:
                candle = self._aggregate_candle(slot.symbol, tf, agg)
                recent[slot.index].append(candle)
                batch.append(candle)
            agg.n = 0
        return batch

    # ---- history and queries ----------------------------------------------------------------------------

    def seed(self, history: Mapping[str, Iterable[Candle]]) -> None:
        """Load closed 1m history (oldest first) so live candles, flats and higher timeframes continue from it.

        Nothing is emitted. Higher-timeframe periods that the history completes go to `recent`; a period the
        history leaves open is carried on by the live 1m candles. Call before the first trade.
        """
        if self._next_emit is not None:
            raise RuntimeError("seed() must be called before the first trade")
        per_slot: list[list[Candle]] = [[] for _ in self._slots]
        for symbol, candles in history.items():
            slot = self._by_symbol.get(symbol)
            if slot is None:
                continue
            by_open = {
                c.open_ms: c
                for c in candles
                if c.timeframe == "1m" and c.closed and c.open_ms % _MINUTE_MS == 0
            }
            per_slot[slot.index] = [by_open[k] for k in sorted(by_open)]
        ends = [rows[-1].open_ms + _MINUTE_MS for rows in per_slot if rows]
        if not ends:
            return
        nxt = max(ends)
        for slot, rows in zip(self._slots, per_slot, strict=True):
            slot.start = slot.end = nxt
            if not rows:
                continue
            slot.last_close = rows[-1].close
            self._recent["1m"][slot.index].extend(rows)
            for tf, tf_ms in self._higher:
                agg = self._aggregates[tf][slot.index]
                recent = self._recent[tf][slot.index]
                for candle in rows:
                    period = candle.open_ms - candle.open_ms % tf_ms
                    if agg.n and agg.start != period:
                        recent.append(self._aggregate_candle(slot.symbol, tf, agg))
                        agg.n = 0
                    agg.add(candle, period)
                if agg.n and agg.start + tf_ms <= nxt:
                    recent.append(self._aggregate_candle(slot.symbol, tf, agg))
                    agg.n = 0
        self._next_emit = nxt
        self._has_emitted = True

    @staticmethod
    def _aggregate_candle(symbol: str, tf: str, agg: _Aggregate) -> Candle:
        return Candle(symbol, tf, agg.start, agg.o, agg.h, agg.l, agg.c, agg.v, agg.trades)

    def recent(self, timeframe: str, symbol: str, n: int) -> list[Candle]:
        """The last `n` closed candles of `symbol` on `timeframe`, oldest first."""
        buf = self._recent[timeframe][self._by_symbol[symbol].index]
        if n >= len(buf):
            return list(buf)
        return list(buf)[len(buf) - n :] if n > 0 else []

    def open_candle(self, symbol: str) -> Candle | None:
        """The 1m candle still being built for `symbol` (closed=False), or None when it has no trade yet."""
        slot = self._by_symbol[symbol]
        if not slot.n:
            return None
        return Candle(
            slot.symbol, "1m", slot.start, slot.o, slot.h, slot.l, slot.c, slot.v, slot.n, closed=False
        )

    def last_close(self, symbol: str) -> float | None:
        """The close of the newest emitted 1m candle of `symbol`."""
        return self._by_symbol[symbol].last_close

    @property
    def next_boundary_ms(self) -> int | None:
        """Open time of the next 1m boundary to be emitted (None before the first trade or seed)."""
        return self._next_emit

    @property
    def pending_boundaries(self) -> int:
        return len(self._pending)
