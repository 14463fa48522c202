"""Binance public data files for USDⓈ-M futures (the data.binance.vision layout): names, plain or zipped
CSV, and streaming readers for klines and aggTrades rows that skip and count malformed rows.

Rows are split as bytes (no csv module, no decoding): the files hold no quotes. Times are milliseconds, or
microseconds in recent files, told apart per row by size. A header row, if present, is the first line.
"""

from __future__ import annotations

import enum
import gzip
import operator
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from itertools import islice, repeat
from pathlib import Path
from typing import IO, cast

import msgspec

from casino_tui.exchange.replay.errors import BadRows, ReplayDataError, ReplayFormatError
from casino_tui.exchange.replay.klines import Kline
from casino_tui.model import Trade

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
# A millisecond timestamp this large would be past the year 5000: it counts microseconds.
MICROS_FROM = 10**14
CHUNK_BYTES = 1 << 18  # a block of a few thousand rows: batches stay small, C does the work
MAX_LINE_BYTES = 1 << 16  # far more than any data row: a longer line is not CSV data
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
_INF = float("inf")
_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9]+)-(?P<what>aggTrades|[A-Za-z]+|\d+[smhdwM])-\d{4}-\d{2}(?:-\d{2})?$"
)
_BOOL = {b"true": True, b"false": False, b"True": True, b"False": False, b"1": True, b"0": False}
_BOOL.update({b"TRUE": True, b"FALSE": False})
AGG_TRADES_COLUMNS = 7
KLINES_COLUMNS = 7  # open_time .. close_time; the five columns after it are not used


class DataKind(enum.StrEnum):
    KLINES = "klines"
    AGG_TRADES = "aggTrades"


class FileName(msgspec.Struct, frozen=True):
    """What a data.binance.vision file name says: `XRPUSDT-5m-2021-11.zip`, `BTCUSDT-aggTrades-2024-01-02.csv`."""

    symbol: str | None = None
    kind: DataKind | None = None
    interval: str | None = None
    other: str | None = None  # a Binance data set we do not replay (trades, bookTicker, ...)


def parse_file_name(path: Path) -> FileName:
    stem = path.name
    for suffix in (".gz", ".zip", ".csv"):
        stem = stem.removesuffix(suffix)
    match = _NAME.match(stem)
    if match is None:
        return FileName()
    symbol, what = match["symbol"].upper(), match["what"]
    if what == "aggTrades":
        return FileName(symbol, DataKind.AGG_TRADES)
    if what in INTERVAL_MS:
        return FileName(symbol, DataKind.KLINES, what)
    return FileName(symbol, other=what)


def is_compressed(path: Path) -> bool:
    """A zip or gzip file (which cannot seek cheaply), by its first bytes."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    return magic == ZIP_MAGIC or magic[:2] == GZIP_MAGIC


def open_data(path: Path) -> IO[bytes]:
    """The CSV bytes of a plain, gzipped or zipped file (a zip must hold exactly one file)."""
    try:
        with path.open("rb") as raw:
            magic = raw.read(4)
        if magic[:2] == GZIP_MAGIC:
            return cast(IO[bytes], gzip.open(path, "rb"))
        if magic != ZIP_MAGIC:
            return path.open("rb")
    except OSError as exc:
        raise ReplayFormatError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise ReplayFormatError(
                    f"{path.name}: a data zip holds one CSV file, this one holds {len(members)}"
                )
            # The member keeps the file open after the archive closes, until the member is closed.
            return archive.open(members[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ReplayFormatError(f"{path.name}: not a readable zip file ({exc})") from None


def iter_blocks(stream: IO[bytes], name: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Runs of whole lines joined by b"\\n" (no line end after the last), read in chunks; a corrupt
    compressed stream stops the run."""
    rest = b""
    while True:
        try:
            chunk = stream.read(chunk_bytes)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ReplayDataError(f"{name}: cannot read on: {exc}") from None
        if not chunk:
            break
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r", b"")
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > MAX_LINE_BYTES:
                raise ReplayFormatError(
                    f"{name}: a line longer than {MAX_LINE_BYTES} bytes: not a CSV data file"
                )
            rest = data
            continue
        rest = data[cut + 1 :]
        yield data[:cut]
    if rest:
        yield rest


def iter_lines(stream: IO[bytes], name: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The stream's lines without line ends."""
    for block in iter_blocks(stream, name, chunk_bytes):
        yield from block.split(b"\n")


def is_header(line: bytes) -> bool:
    """A first line whose first field is not a number names the columns."""
    head = line.split(b",", 1)[0].strip()
    return bool(head) and not head.lstrip(b"-").isdigit()


def _row_problem(fields: list[bytes], columns: int) -> str:
    """Why a row failed to parse (the rare path)."""
    if len(fields) < columns:
        return f"missing columns ({len(fields)} of {columns})"
    return "bad number or flag"


class Cursor:
    """Where one symbol's data stands, across its files: rows at or before it are duplicates or out of order."""

    __slots__ = ("last_id", "last_ms")

    def __init__(self) -> None:
        self.last_id = -1
        self.last_ms = -1


def read_agg_trades(
    lines: Iterable[bytes],
    symbol: str,
    file: str,
    bad: BadRows,
    cursor: Cursor,
    from_ms: int,
    to_ms: int,
    first_line: int = 1,
) -> Iterator[Trade]:
    """Trades of `agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time, is_buyer_maker`
    rows with `from_ms <= time < to_ms`; bad rows go to `bad` and are skipped."""
    line_no = first_line - 1
    last_id = cursor.last_id
    last_ms = cursor.last_ms
    bools = _BOOL
    try:
        for line in lines:
            line_no += 1
            if not line:
                continue
            fields = line.split(b",")
            try:
                agg_id = int(fields[0])
                price = float(fields[1])
                qty = float(fields[2])
                ts = int(fields[5])
                maker = bools[fields[6]]
            except (ValueError, IndexError, KeyError):
                bad.add(file, line_no, _row_problem(fields, AGG_TRADES_COLUMNS))
                continue
            if ts >= MICROS_FROM:
                ts //= 1000
            # Chained comparisons are False for NaN, so these reject NaN too.
            if not (0.0 < price < _INF and 0.0 <= qty < _INF):
                bad.add(file, line_no, "price or quantity out of range")
                continue
            if agg_id <= last_id:
                reason = (
                    "duplicate trade id"
                    if agg_id == last_id
                    else f"trade id goes back ({agg_id} after {last_id})"
                )
                bad.add(file, line_no, reason)
                continue
            if ts < last_ms:
                bad.add(file, line_no, "out-of-order time")
                continue
            last_id = agg_id
            last_ms = ts
            if ts < from_ms:
                continue
            if ts >= to_ms:
                return
            yield Trade(symbol, price, qty, ts, maker)
    finally:
        cursor.last_id = last_id
        cursor.last_ms = last_ms


# A block of well-formed aggTrades rows is a JSON array of numbers and flags once its line ends become
# commas: msgspec parses it in C, the columns are slices of it, and a clean block (seven fields a row of the
# right types, ids rising, times in order, in ms, inside the window, prices and quantities in range) becomes
# Trades without a Python loop. Any other block is read line by line, which finds and counts its bad rows.
_decode_json = msgspec.json.Decoder().decode
_INT = {int}
_BOOL_TYPE = {bool}
_NUMBER = ({float}, {int}, {float, int})


def read_agg_trade_blocks(
    blocks: Iterable[bytes],
    symbol: str,
    file: str,
    bad: BadRows,
    cursor: Cursor,
    from_ms: int,
    to_ms: int,
    first_line: int = 1,
) -> Iterator[list[Trade]]:
    """`read_agg_trades` a block of lines at a time: lists of trades, the same trades and bad rows."""
    line_no = first_line - 1
    for block in blocks:
        trades = _clean_block(block, symbol, cursor, from_ms, to_ms)
        if trades is None:
            lines = block.split(b"\n")
            trades = list(read_agg_trades(lines, symbol, file, bad, cursor, from_ms, to_ms, line_no + 1))
            line_no += len(lines)
        else:
            line_no += len(trades)
        if trades:
            yield trades
        if cursor.last_ms >= to_ms:
            return


def _clean_block(block: bytes, symbol: str, cursor: Cursor, from_ms: int, to_ms: int) -> list[Trade] | None:
    """The block's trades if every row is clean and inside the window, else None (read it line by line)."""
    if b"True" in block or b"False" in block:  # older files spell the flag like Python
        block = block.replace(b"True", b"true").replace(b"False", b"false")
    try:
        flat = _decode_json(b"[" + block.replace(b"\n", b",") + b"]")
    except msgspec.DecodeError:
        return None
    rows = block.count(b"\n") + 1
    if len(flat) != AGG_TRADES_COLUMNS * rows:
        return None
    ids, prices, qtys, times, makers = flat[0::7], flat[1::7], flat[2::7], flat[5::7], flat[6::7]
    if not (
        set(map(type, ids)) == _INT
        and set(map(type, times)) == _INT
        and set(map(type, makers)) == _BOOL_TYPE
        and set(map(type, prices)) in _NUMBER
        and set(map(type, qtys)) in _NUMBER
    ):
        return None
    if times[0] >= MICROS_FROM:  # recent files count microseconds (a block that mixes units fails below)
        times = [ts // 1000 for ts in times]
    if not (
        ids[0] > cursor.last_id
        and times[0] >= max(cursor.last_ms, from_ms)
        and times[-1] < min(to_ms, MICROS_FROM)
        and all(map(operator.lt, ids, islice(ids, 1, None)))
        and all(map(operator.le, times, islice(times, 1, None)))
        and min(prices) > 0.0
        and max(prices) < _INF
        and min(qtys) >= 0.0
        and max(qtys) < _INF
    ):
        return None
    cursor.last_id = ids[-1]
    cursor.last_ms = times[-1]
    # Prices and quantities written without a point ("42000") parse as ints: the model's are floats.
    return list(map(Trade, repeat(symbol, rows), map(float, prices), map(float, qtys), times, makers))


def read_kline_blocks(
    blocks: Iterable[bytes],
    symbol: str,
    interval_ms: int,
    file: str,
    bad: BadRows,
    cursor: Cursor,
    from_ms: int,
    to_ms: int,
    first_line: int = 1,
) -> Iterator[list[Kline]]:
    """`read_klines` a block of lines at a time."""
    line_no = first_line - 1
    for block in blocks:
        lines = block.split(b"\n")
        bars = list(read_klines(lines, symbol, interval_ms, file, bad, cursor, from_ms, to_ms, line_no + 1))
        line_no += len(lines)
        if bars:
            yield bars
        if cursor.last_ms >= to_ms:
            return


def read_klines(
    lines: Iterable[bytes],
    symbol: str,
    interval_ms: int,
    file: str,
    bad: BadRows,
    cursor: Cursor,
    from_ms: int,
    to_ms: int,
    first_line: int = 1,
) -> Iterator[Kline]:
    """Bars of `open_time, open, high, low, close, volume, close_time, ...` rows opening in
    `from_ms <= open_time < to_ms`; bad rows go to `bad` and are skipped."""
    line_no = first_line - 1
    last_ms = cursor.last_ms
    try:
        for line in lines:
            line_no += 1
            if not line:
                continue
            fields = line.split(b",")
            try:
                open_ms = int(fields[0])
                o = float(fields[1])
                h = float(fields[2])
                lo = float(fields[3])
                c = float(fields[4])
                v = float(fields[5])
                close_ms = int(fields[6])
            except (ValueError, IndexError):
                bad.add(file, line_no, _row_problem(fields, KLINES_COLUMNS))
                continue
            if open_ms >= MICROS_FROM:
                open_ms //= 1000
                close_ms = (close_ms + 1) // 1000 - 1
            problem = _kline_problem(open_ms, o, h, lo, c, v, close_ms, interval_ms, last_ms)
            if problem:
                bad.add(file, line_no, problem)
                continue
            last_ms = open_ms
            if open_ms < from_ms:
                continue
            if open_ms >= to_ms:
                return
            yield Kline(symbol, open_ms, interval_ms, o, h, lo, c, v)
    finally:
        cursor.last_ms = last_ms


def _kline_problem(
    open_ms: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    v: float,
    close_ms: int,
    interval_ms: int,
    last_ms: int,
) -> str:
    if not all(0.0 < p < _INF for p in (o, h, lo, c)) or not 0.0 <= v < _INF:
        return "price or volume out of range"
    if h < lo:
        return "high < low"
    if not (lo <= o <= h and lo <= c <= h):
        return "open or close outside low..high"
    if close_ms - open_ms + 1 != interval_ms:
        return f"bar spans {close_ms - open_ms + 1} ms, not the file's {interval_ms} ms"
    if open_ms <= last_ms:
        return "duplicate time" if open_ms == last_ms else "out-of-order time"
    return ""
