"""What one Binance data file holds (kind, symbol, interval, header, time span, price and quantity precision),
read from its name, a bounded prefix of rows and its tail: never the whole file into memory."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import msgspec

from casino_tui.exchange.replay.binance_files import (
    INTERVAL_MS,
    Cursor,
    DataKind,
    is_compressed,
    is_header,
    iter_blocks,
    iter_lines,
    open_data,
    parse_file_name,
    read_agg_trade_blocks,
    read_agg_trades,
    read_kline_blocks,
    read_klines,
)
from casino_tui.exchange.replay.errors import BadRows, ReplayFormatError
from casino_tui.exchange.replay.klines import Kline
from casino_tui.exchange.replay.rules import finest_decimals
from casino_tui.model import Trade

SNIFF_ROWS = 2000  # rows read up front to tell the format and the tick and step sizes
TAIL_BYTES = 64 * 1024
_NO_LIMIT = (-(2**62), 2**62)


class FileLayout(msgspec.Struct, frozen=True):
    """One data file, understood: rows from `first_line` on are `kind` rows of `symbol`."""

    path: Path
    symbol: str
    kind: DataKind
    interval_ms: int | None  # klines only
    first_line: int  # 2 after a header row
    first_ms: int
    last_ms: int  # the last trade, or the last bar's close time
    price_decimals: int
    qty_decimals: int

    @property
    def name(self) -> str:
        return self.path.name


def sniff_file(
    path: Path, *, symbol: str | None = None, interval: str | None = None, kind: str | None = None
) -> FileLayout:
    """Understand `path`; explicit arguments win over its name. Raises ReplayFormatError for anything that
    is not a klines or aggTrades file of a symbol we can name."""
    named = parse_file_name(path)
    if named.other and kind is None:
        raise ReplayFormatError(
            f"{path.name}: Binance {named.other} data cannot be replayed (klines or aggTrades)"
        )
    with open_data(path) as stream:
        head = list(itertools.islice(iter_lines(stream, path.name, TAIL_BYTES), SNIFF_ROWS + 1))
    first = next((line for line in head if line.strip()), None)
    if first is None:
        raise ReplayFormatError(f"{path.name}: empty file")
    has_header = is_header(head[0]) if head else False
    data_kind = _kind(
        path, kind, named.kind, head[0] if has_header else None, first if not has_header else None, head
    )
    name_symbol = symbol.upper() if symbol else named.symbol
    if not name_symbol:
        raise ReplayFormatError(
            f"{path.name}: cannot tell the symbol: name the file like BTCUSDT-1m-2024-01.csv or pass the symbol"
        )
    rows = head[1:] if has_header else head
    first_line = 2 if has_header else 1
    interval_ms: int | None = None
    if data_kind is DataKind.KLINES:
        interval_ms = _interval(path, interval or named.interval, rows)
        bars = list(read_klines(rows, name_symbol, interval_ms, path.name, BadRows(0), Cursor(), *_NO_LIMIT))
        if not bars:
            raise _not_a_format(path, rows, data_kind)
        first_ms = bars[0].open_ms
        prices = [p for b in bars for p in (b.open, b.high, b.low, b.close)]
        qtys = [b.volume for b in bars]
    else:
        trades = list(read_agg_trades(rows, name_symbol, path.name, BadRows(0), Cursor(), *_NO_LIMIT))
        if not trades:
            raise _not_a_format(path, rows, data_kind)
        first_ms = trades[0].ts_ms
        prices = [t.price for t in trades]
        qtys = [t.qty for t in trades]
    last_ms = _last_ms(path, name_symbol, data_kind, interval_ms)
    return FileLayout(
        path=path,
        symbol=name_symbol,
        kind=data_kind,
        interval_ms=interval_ms,
        first_line=first_line,
        first_ms=first_ms,
        last_ms=max(first_ms, last_ms),
        price_decimals=finest_decimals(prices),
        qty_decimals=finest_decimals(qtys),
    )


def read_trade_blocks(
    layout: FileLayout, bad: BadRows, cursor: Cursor, from_ms: int, to_ms: int
) -> Iterator[list[Trade]]:
    """Stream an aggTrades file's trades, a block at a time, from its first data row."""
    assert layout.kind is DataKind.AGG_TRADES
    with open_data(layout.path) as stream:
        blocks = _data_blocks(iter_blocks(stream, layout.name), layout)
        yield from read_agg_trade_blocks(
            blocks, layout.symbol, layout.name, bad, cursor, from_ms, to_ms, layout.first_line
        )


def read_bar_blocks(
    layout: FileLayout, bad: BadRows, cursor: Cursor, from_ms: int, to_ms: int
) -> Iterator[list[Kline]]:
    """Stream a klines file's bars, a block at a time, from its first data row."""
    assert layout.interval_ms is not None
    with open_data(layout.path) as stream:
        blocks = _data_blocks(iter_blocks(stream, layout.name), layout)
        yield from read_kline_blocks(
            blocks,
            layout.symbol,
            layout.interval_ms,
            layout.name,
            bad,
            cursor,
            from_ms,
            to_ms,
            layout.first_line,
        )


def _data_blocks(blocks: Iterator[bytes], layout: FileLayout) -> Iterator[bytes]:
    """The blocks without the header row."""
    if layout.first_line == 1:
        yield from blocks
        return
    for block in blocks:
        _, _, rest = block.partition(b"\n")
        if rest:
            yield rest
        break
    yield from blocks


def _kind(
    path: Path,
    given: str | None,
    named: DataKind | None,
    header: bytes | None,
    row: bytes | None,
    head: list[bytes],
) -> DataKind:
    if given is not None:
        try:
            return DataKind(given)
        except ValueError:
            raise ReplayFormatError(f"unknown data kind {given!r} (klines or aggTrades)") from None
    if named is not None:
        return named
    if header is not None:
        text = header.lower()
        if b"agg_trade_id" in text:
            return DataKind.AGG_TRADES
        if b"open_time" in text:
            return DataKind.KLINES
        raise ReplayFormatError(f"{path.name}: not a Binance klines or aggTrades CSV file (unknown header)")
    assert row is not None
    columns = len(row.split(b","))
    if columns == 12:
        return DataKind.KLINES
    if columns == 7:
        return DataKind.AGG_TRADES
    raise ReplayFormatError(
        f"{path.name}: not a Binance klines (12 columns) or aggTrades (7 columns) CSV file: {columns} columns"
    )


def _interval(path: Path, named: str | None, rows: list[bytes]) -> int:
    """The klines interval: given or from the name, else the first bar's own span; they must agree."""
    if named is not None and named not in INTERVAL_MS:
        raise ReplayFormatError(f"unknown klines interval {named!r} ({', '.join(INTERVAL_MS)})")
    span = _first_bar_span(rows)
    if named is None:
        if span is None or span not in INTERVAL_MS.values():
            raise ReplayFormatError(f"{path.name}: cannot tell the klines interval: name the file or pass it")
        return span
    if span is not None and span != INTERVAL_MS[named]:
        raise ReplayFormatError(f"{path.name}: bars span {span} ms, not {named}")
    return INTERVAL_MS[named]


def _first_bar_span(rows: list[bytes]) -> int | None:
    for line in rows:
        fields = line.split(b",")
        try:
            open_ms, close_ms = int(fields[0]), int(fields[6])
        except (ValueError, IndexError):
            continue
        if open_ms >= 10**14:
            return (close_ms + 1) // 1000 - open_ms // 1000
        return close_ms - open_ms + 1
    return None


def _not_a_format(path: Path, rows: list[bytes], kind: DataKind) -> ReplayFormatError:
    bad = BadRows(1)
    limits = _NO_LIMIT
    if kind is DataKind.KLINES:
        span = _first_bar_span(rows) or 60_000
        list(read_klines(rows, "X", span, path.name, bad, Cursor(), *limits))
    else:
        list(read_agg_trades(rows, "X", path.name, bad, Cursor(), *limits))
    why = f" (line {bad.rows[0].line}: {bad.rows[0].reason})" if bad.rows else ""
    return ReplayFormatError(f"{path.name}: not a Binance {kind} CSV file{why}")


def _last_ms(path: Path, symbol: str, kind: DataKind, interval_ms: int | None) -> int:
    """The time of the file's last good row, from its tail (a zip is streamed through to reach it)."""
    with open_data(path) as stream:
        skip_partial = False
        if not is_compressed(path):
            size = stream.seek(0, 2)
            stream.seek(max(0, size - TAIL_BYTES))
            skip_partial = size > TAIL_BYTES  # the first line read is the end of a line
        tail: deque[bytes] = deque(iter_lines(stream, path.name, TAIL_BYTES), maxlen=SNIFF_ROWS)
    rows = list(tail)[1 if skip_partial else 0 :]
    no_rows = BadRows(0)
    for line in reversed(rows):
        if interval_ms is not None:
            bars = list(read_klines([line], symbol, interval_ms, path.name, no_rows, Cursor(), *_NO_LIMIT))
            if bars:
                return bars[-1].close_ms
        else:
            trades = list(read_agg_trades([line], symbol, path.name, no_rows, Cursor(), *_NO_LIMIT))
            if trades:
                return trades[-1].ts_ms
    return -1
