"""Replay sources: Binance public data files (klines, aggTrades; plain or zipped) and casino-tui recordings,
opened together as one time-ordered stream of trades for the replay exchange.

Each symbol comes from one kind of data. A symbol's files are read one after the other in time order (a row
at or before what was already read is a duplicate and counted as bad); the symbols' streams are then merged
by time, ties going to the symbol first in name order, so the same files always give the same stream.
Recordings are read back exactly as recorded and merged by time with the rest. Klines become a four-trade
path per bar (see `klines.py`, which also states how a bar touching both TP and SL is resolved).
`--from`/`--to` select `from_ms <= t < to_ms` (bar open times for klines).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from casino_tui.exchange.replay.binance_files import INTERVAL_MS, Cursor
from casino_tui.exchange.replay.errors import (
    BadRow,
    BadRows,
    ReplayDataError,
    ReplayFormatError,
)
from casino_tui.exchange.replay.klines import Kline, path_trades
from casino_tui.exchange.replay.layout import FileLayout, read_file, sniff_file
from casino_tui.exchange.replay.recorder import (
    MarkPriceTick,
    RecordingInfo,
    is_recording,
    read_recording,
    scan_recording,
)
from casino_tui.exchange.replay.rules import replay_rules
from casino_tui.model import SymbolRules, Trade

__all__ = [
    "BadRow",
    "MarkPriceTick",
    "ReplayDataError",
    "ReplayFormatError",
    "ReplaySource",
    "open_source",
    "parse_utc_ms",
]

_BEGINNING = -(2**62)
_END = 2**62
KINDS = ("klines", "aggTrades", "recording")


class ReplaySource:
    """The data of one replay: its symbols and their rules, its time span, and its trades in time order.

    `trades()` (or `events()`, which adds recorded mark prices) may be iterated again: each pass re-reads the
    files and recounts the bad rows.
    """

    def __init__(
        self,
        layouts: list[FileLayout],
        recordings: list[RecordingInfo],
        rules: dict[str, SymbolRules],
        interval_ms: dict[str, int | None],
        start_ms: int,
        end_ms: int,
        from_ms: int,
        to_ms: int,
    ) -> None:
        self.symbols: list[str] = sorted(rules)
        self.rules = rules
        self.interval_ms = interval_ms
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._layouts = layouts
        self._recordings = recordings
        self._from_ms = from_ms
        self._to_ms = to_ms
        self._bad = BadRows()
        self._position_ms = start_ms
        self._finished = False
        self._bars: dict[str, Kline] = {}

    @property
    def bad_rows(self) -> list[BadRow]:
        """The first bad rows met (bounded), with file and line."""
        return self._bad.rows

    @property
    def bad_row_count(self) -> int:
        return self._bad.count

    @property
    def files(self) -> list[Path]:
        return [layout.path for layout in self._layouts] + [rec.path for rec in self._recordings]

    def progress(self) -> float:
        """How far through the data's time span the stream has got, 0..1."""
        if self._finished:
            return 1.0
        span = self.end_ms - self.start_ms
        if span <= 0:
            return 0.0
        return min(1.0, max(0.0, (self._position_ms - self.start_ms) / span))

    def bar_at(self, symbol: str, ts_ms: int) -> Kline | None:
        """The kline whose path produced `symbol`'s trade at `ts_ms` (None for trade data)."""
        bar = self._bars.get(symbol)
        if bar is not None and bar.open_ms <= ts_ms <= bar.close_ms:
            return bar
        return None

    def trades(self) -> Iterator[Trade]:
        """Every trade of every symbol, merged in time order (deterministic)."""
        for event in self.events():
            if type(event) is Trade:
                yield event

    def events(self) -> Iterator[Trade | MarkPriceTick]:
        """Trades, and the mark prices of recordings, merged in time order (deterministic)."""
        self._bad = BadRows()
        self._finished = False
        self._position_ms = self.start_ms
        self._bars.clear()
        streams: list[Iterator[Trade | MarkPriceTick]] = [
            self._symbol_stream(symbol, files) for symbol, files in self._files_by_symbol()
        ]
        streams += [
            read_recording(rec.path, self._bad, self._from_ms, self._to_ms) for rec in self._recordings
        ]
        for event in merge_by_time(streams):
            self._position_ms = event.ts_ms
            yield event
        self._finished = True

    def _files_by_symbol(self) -> list[tuple[str, list[FileLayout]]]:
        grouped: dict[str, list[FileLayout]] = defaultdict(list)
        for layout in self._layouts:
            grouped[layout.symbol].append(layout)
        return [
            (symbol, sorted(files, key=lambda f: (f.first_ms, f.path.name)))
            for symbol, files in sorted(grouped.items())
        ]

    def _symbol_stream(self, symbol: str, files: list[FileLayout]) -> Iterator[Trade]:
        cursor = Cursor()
        for layout in files:
            rows = read_file(layout, self._bad, cursor, self._from_ms, self._to_ms)
            if layout.interval_ms is None:
                yield from rows  # type: ignore[misc]  # aggTrades files yield Trades
                continue
            bars = self._bars
            for bar in rows:
                assert type(bar) is Kline
                bars[symbol] = bar
                yield from path_trades(bar)


class Timed(Protocol):
    @property
    def ts_ms(self) -> int: ...


T = TypeVar("T", bound=Timed)


def merge_by_time(streams: Sequence[Iterator[T]]) -> Iterator[T]:
    """Merge time-ordered streams; equal times go to the earlier stream. Runs from one stream are passed
    through without touching the heap, which is most of the time when symbols trade in bursts."""
    heap: list[tuple[int, int, T, Iterator[T]]] = []
    for index, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            heap.append((first.ts_ms, index, first, stream))
    heapq.heapify(heap)
    while len(heap) > 1:
        _, index, event, stream = heap[0]
        yield event
        # The best of the others: stream `index` keeps the lead while it stays ahead of it.
        rival = heap[1] if len(heap) == 2 or heap[1] < heap[2] else heap[2]
        rival_ms, rival_index = rival[0], rival[1]
        for event in stream:
            ts = event.ts_ms
            if ts < rival_ms or (ts == rival_ms and index < rival_index):
                yield event
            else:
                heapq.heapreplace(heap, (ts, index, event, stream))
                break
        else:
            heapq.heappop(heap)
    if heap:
        _, _, event, stream = heap[0]
        yield event
        yield from stream


def open_source(
    paths: Sequence[Path],
    *,
    symbol: str | None = None,
    interval: str | None = None,
    kind: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    tick_size: float | None = None,
    step_size: float | None = None,
) -> ReplaySource:
    """Open data files for a replay. `symbol`, `interval` and `kind` override what the file names say;
    `tick_size`/`step_size` override the sizes inferred from the data. Raises ReplayFormatError (one line,
    naming the file) for anything that cannot be replayed."""
    if not paths:
        raise ReplayFormatError("no data files given")
    if kind is not None and kind not in KINDS:
        raise ReplayFormatError(f"unknown data kind {kind!r} ({', '.join(KINDS)})")
    if interval is not None and interval not in INTERVAL_MS:
        raise ReplayFormatError(f"unknown klines interval {interval!r} ({', '.join(INTERVAL_MS)})")
    low = _BEGINNING if from_ms is None else from_ms
    high = _END if to_ms is None else to_ms
    if low >= high:
        raise ReplayFormatError("--from must be before --to")
    layouts: list[FileLayout] = []
    recordings: list[RecordingInfo] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ReplayFormatError(f"{path}: no such file")
        if kind in (None, "recording") and is_recording(path):
            recordings.append(scan_recording(path))
        elif kind == "recording":
            raise ReplayFormatError(f"{path.name}: not a casino-tui recording")
        else:
            layouts.append(sniff_file(path, symbol=symbol, interval=interval, kind=kind))
    rules, intervals = _rules_and_intervals(layouts, recordings, tick_size, step_size)
    spans = [(f.first_ms, f.last_ms) for f in layouts] + [(r.first_ms, r.last_ms) for r in recordings]
    start = max(low, min(first for first, _ in spans))
    end = min(high - 1, max(last for _, last in spans))
    if start > end:
        raise ReplayFormatError(f"no data between --from and --to (the files span {_span_text(spans)})")
    return ReplaySource(layouts, recordings, rules, intervals, start, end, low, high)


def _rules_and_intervals(
    layouts: list[FileLayout],
    recordings: list[RecordingInfo],
    tick_size: float | None,
    step_size: float | None,
) -> tuple[dict[str, SymbolRules], dict[str, int | None]]:
    """One kind of data per symbol; its rules from a recording's header, else from the data's precision."""
    kinds: dict[str, str] = {}
    intervals: dict[str, int | None] = {}
    decimals: dict[str, tuple[int, int]] = {}
    recorded: dict[str, SymbolRules] = {}

    def claim(symbol: str, what: str, source: str) -> None:
        if kinds.setdefault(symbol, what) != what:
            raise ReplayFormatError(
                f"{source}: {symbol} data comes as {kinds[symbol]} and as {what}: choose one"
            )

    for layout in layouts:
        what = f"klines of {layout.interval_ms} ms" if layout.interval_ms else "aggTrades"
        claim(layout.symbol, what, layout.name)
        intervals[layout.symbol] = layout.interval_ms
        p, q = decimals.get(layout.symbol, (0, 0))
        decimals[layout.symbol] = (max(p, layout.price_decimals), max(q, layout.qty_decimals))
    for rec in recordings:
        for sym in rec.header.symbols:
            claim(sym, "recording", rec.path.name)
            intervals[sym] = None
            p, q = decimals.get(sym, (0, 0))
            decimals[sym] = (max(p, rec.price_decimals), max(q, rec.qty_decimals))
        recorded.update({r.symbol: r for r in rec.header.rules})
    rules: dict[str, SymbolRules] = {}
    for sym, (price_places, qty_places) in sorted(decimals.items()):
        if sym in recorded and tick_size is None and step_size is None:
            rules[sym] = recorded[sym]
            continue
        try:
            rules[sym] = replay_rules(sym, price_places, qty_places, tick_size=tick_size, step_size=step_size)
        except ValueError as exc:
            raise ReplayFormatError(str(exc)) from None
    return rules, intervals


def _span_text(spans: list[tuple[int, int]]) -> str:
    return f"{_iso(min(s for s, _ in spans))} .. {_iso(max(e for _, e in spans))}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_utc_ms(text: str) -> int:
    """`--from`/`--to` values: epoch milliseconds, or an ISO date or date-time taken as UTC."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use 2024-01-31, 2024-01-31T12:00 or epoch ms)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
