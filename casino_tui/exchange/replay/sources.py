"""Replay sources: Binance public data files (klines, aggTrades; plain, zipped or gzipped) and casino-tui
recordings, opened together as one time-ordered stream of trades for the replay exchange.

Each symbol comes from one kind of data. A symbol's files are read one after the other in time order (a row
at or before what was already read is a duplicate and counted as bad); the symbols' streams are then merged
by time, ties going to the symbol first in name order, so the same files always give the same stream.
Recordings are read back exactly as recorded and merged by time with the rest. Klines become a four-trade
path per bar (see `klines.py`, which also states how a bar touching both TP and SL is resolved).
`--from`/`--to` select `from_ms <= t < to_ms` (bar open times for klines).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import cast

from casino_tui.exchange.replay.binance_files import INTERVAL_MS, Cursor
from casino_tui.exchange.replay.errors import (
    BadRow,
    BadRows,
    ReplayDataError,
    ReplayFormatError,
)
from casino_tui.exchange.replay.klines import Kline, path_trades
from casino_tui.exchange.replay.layout import FileLayout, read_bar_blocks, read_trade_blocks, sniff_file
from casino_tui.exchange.replay.merge import merge_blocks, whole_times
from casino_tui.exchange.replay.recorder import (
    MarkPriceTick,
    RecordingInfo,
    is_recording,
    read_recording_frames,
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
MAX_BARS_KEPT = 4096  # per symbol, for `bar_at`: more than a block of bars
_open_ms = attrgetter("open_ms")


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
        self._bars: dict[str, list[Kline]] = {}

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
        """The kline whose path produced `symbol`'s trade at `ts_ms`, among the latest bars read (None for
        trade data, or for a trade long past)."""
        bars = self._bars.get(symbol)
        if not bars:
            return None
        index = bisect_right(bars, ts_ms, key=_open_ms) - 1
        if index >= 0 and ts_ms <= bars[index].close_ms:
            return bars[index]
        return None

    def trades(self) -> Iterator[Trade]:
        """Every trade of every symbol, merged in time order (deterministic)."""
        for batch in self.trade_batches():
            for trade in batch:
                self._position_ms = trade.ts_ms
                yield trade

    def events(self) -> Iterator[Trade | MarkPriceTick]:
        """Trades, and the mark prices of recordings, merged in time order (deterministic)."""
        for batch in self.event_batches():
            for event in batch:
                self._position_ms = event.ts_ms
                yield event

    def trade_batches(self) -> Iterator[list[Trade]]:
        """`trades()` in time-ordered lists: the fast way to drive a replay (progress moves per list)."""
        for batch in self.event_batches():
            if self._recordings:
                batch = [e for e in batch if type(e) is Trade]
            if batch:
                yield batch  # type: ignore[misc]  # without recordings there are only trades

    def event_batches(self) -> Iterator[list[Trade | MarkPriceTick]]:
        """`events()` in time-ordered lists."""
        self._bad = BadRows()
        self._finished = False
        self._position_ms = self.start_ms
        self._bars.clear()
        streams: list[Iterator[list[Trade | MarkPriceTick]]] = [
            # Lists are invariant: a list of trades is read, never appended to, as a list of events.
            cast(Iterator[list[Trade | MarkPriceTick]], whole_times(self._symbol_blocks(symbol, files)))
            for symbol, files in self._files_by_symbol()
        ]
        streams += [
            read_recording_frames(r.path, self._bad, self._from_ms, self._to_ms) for r in self._recordings
        ]
        for batch in merge_blocks(streams):
            yield batch
            self._position_ms = batch[-1].ts_ms
        self._finished = True

    def _files_by_symbol(self) -> list[tuple[str, list[FileLayout]]]:
        grouped: dict[str, list[FileLayout]] = defaultdict(list)
        for layout in self._layouts:
            grouped[layout.symbol].append(layout)
        return [
            (symbol, sorted(files, key=lambda f: (f.first_ms, f.path.name)))
            for symbol, files in sorted(grouped.items())
        ]

    def _symbol_blocks(self, symbol: str, files: list[FileLayout]) -> Iterator[list[Trade]]:
        """One symbol's files, one after the other; klines expanded into their paths."""
        cursor = Cursor()
        for layout in files:
            if layout.interval_ms is None:
                yield from read_trade_blocks(layout, self._bad, cursor, self._from_ms, self._to_ms)
                continue
            for bars in read_bar_blocks(layout, self._bad, cursor, self._from_ms, self._to_ms):
                self._remember(symbol, bars)
                yield [trade for bar in bars for trade in path_trades(bar)]

    def _remember(self, symbol: str, bars: list[Kline]) -> None:
        """Keep the latest bars for `bar_at` (bounded): the merge may still hand out the block before."""
        kept = self._bars.setdefault(symbol, [])
        if len(kept) > 2 * MAX_BARS_KEPT:
            del kept[:-MAX_BARS_KEPT]
        kept.extend(bars)


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
