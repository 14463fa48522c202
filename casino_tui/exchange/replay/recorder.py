"""The recorder: the decoded market stream (trades and mark prices) of any run, written as gzip-compressed
msgpack frames that a replay reads back exactly.

File layout, after gunzip: frames of a 4-byte big-endian length and a msgpack payload. The first frame is a
`RecordingHeader` (magic, version, exchange, symbols and their rules); every later frame is a batch of
events, each an array `[0, symbol, price, qty, ts_ms, buyer_is_maker]` (a trade) or `[1, symbol, price,
ts_ms]` (a mark price). The gzip stream is sync-flushed after each batch, so a recording cut short by a
crash reads back up to its last whole batch.
"""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import msgspec

from casino_tui.exchange.replay.errors import BadRows, ReplayDataError, ReplayFormatError
from casino_tui.exchange.replay.rules import finest_decimals
from casino_tui.model import SymbolRules, Trade
from casino_tui.port import MarketSink

log = logging.getLogger("casino.recorder")

MAGIC = "casino-tui market recording"
FORMAT_VERSION = 1
BATCH_EVENTS = 4096
BATCH_SPAN_MS = 1000  # a quiet market still reaches the disk within a second of data time
SAMPLE_EVENTS = 2000
MAX_FRAME_BYTES = 16 << 20  # a batch of 4096 events is ~200 kB; a header with every symbol's rules ~100 kB
_LENGTH = struct.Struct(">I")
_GZIP_MAGIC = b"\x1f\x8b"


class MarkPriceTick(msgspec.Struct, frozen=True, gc=False):
    """A mark price as the engine ingests it (`MarketSink.on_mark_price`)."""

    symbol: str
    price: float
    ts_ms: int


class RecordingHeader(msgspec.Struct, frozen=True):
    """The first frame of a recording: what was recorded, from where, with which exchange rules."""

    magic: str
    version: int
    exchange: str
    started_ms: int
    symbols: list[str]
    rules: list[SymbolRules] = []


class _TradeRow(msgspec.Struct, frozen=True, gc=False, array_like=True, tag=0):
    symbol: str
    price: float
    qty: float
    ts_ms: int
    buyer_is_maker: bool


class _MarkRow(msgspec.Struct, frozen=True, gc=False, array_like=True, tag=1):
    symbol: str
    price: float
    ts_ms: int


_encode = msgspec.msgpack.Encoder().encode
_decode_batch = msgspec.msgpack.Decoder(list[_TradeRow | _MarkRow]).decode
_decode_header = msgspec.msgpack.Decoder(RecordingHeader).decode

Event = Trade | MarkPriceTick


class MarketRecorder:
    """Writes market events to `path` in batches (bounded: at most `batch_events` wait in memory)."""

    def __init__(
        self,
        path: Path,
        *,
        exchange: str = "",
        symbols: list[str] | tuple[str, ...] = (),
        rules: Mapping[str, SymbolRules] | None = None,
        started_ms: int = 0,
        batch_events: int = BATCH_EVENTS,
        batch_span_ms: int = BATCH_SPAN_MS,
    ) -> None:
        self.path = path
        self.events_written = 0
        self.failure: str | None = None  # why recording stopped (disk full ...); the run itself goes on
        self._batch: list[Event] = []
        self._batch_events = batch_events
        self._batch_span_ms = batch_span_ms
        self._batch_first_ms = 0
        self._raw: BinaryIO = path.open("wb")
        # mtime=0 and no file name in the gzip header: the same stream gives the same bytes.
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        header = RecordingHeader(
            MAGIC, FORMAT_VERSION, exchange, started_ms, list(symbols), list((rules or {}).values())
        )
        self._write_frame(_encode(header))

    def record_trade(self, trade: Trade) -> None:
        self._add(trade, trade.ts_ms)

    def record_mark(self, symbol: str, price: float, ts_ms: int) -> None:
        self._add(MarkPriceTick(symbol, price, ts_ms), ts_ms)

    def _add(self, event: Event, ts_ms: int) -> None:
        if self.failure is not None:
            return
        batch = self._batch
        if not batch:
            self._batch_first_ms = ts_ms
        batch.append(event)
        if len(batch) >= self._batch_events or ts_ms - self._batch_first_ms >= self._batch_span_ms:
            self.flush()

    def flush(self) -> None:
        """Write the waiting events as one frame and push them through gzip to the file."""
        if not self._batch:
            return
        rows = [
            (0, e.symbol, e.price, e.qty, e.ts_ms, e.buyer_is_maker)
            if type(e) is Trade
            else (1, e.symbol, e.price, e.ts_ms)
            for e in self._batch
        ]
        self._batch.clear()
        try:
            self._write_frame(_encode(rows))
        except OSError as exc:
            # A full disk must not stop the market stream feeding the engine: recording stops, trading goes on.
            self.failure = f"cannot write {self.path}: {exc.strerror or exc}"
            log.error("recording stopped: %s", self.failure)
            return
        self.events_written += len(rows)

    def _write_frame(self, payload: bytes) -> None:
        self._gzip.write(_LENGTH.pack(len(payload)))
        self._gzip.write(payload)
        self._gzip.flush()  # Z_SYNC_FLUSH: everything so far is readable even if the process dies now

    def close(self) -> None:
        """Write what waits and end the gzip stream; a write error is kept in `failure`, not raised."""
        if self._raw.closed:
            return
        try:
            self.flush()
            if self.failure is None:
                self._gzip.close()
        except OSError as exc:
            self.failure = f"cannot write {self.path}: {exc.strerror or exc}"
            log.error("recording not closed cleanly: %s", self.failure)
        finally:
            self._raw.close()


class RecordingSink:
    """A MarketSink that records every trade and mark price, then hands it on to `inner` (the engine)."""

    def __init__(self, inner: MarketSink, recorder: MarketRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def on_trade(self, trade: Trade) -> None:
        self.recorder.record_trade(trade)
        self.inner.on_trade(trade)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.recorder.record_mark(symbol, price, ts_ms)
        self.inner.on_mark_price(symbol, price, ts_ms)

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        self.inner.on_stream_status(stream, connected, reason)


# ---- reading ----------------------------------------------------------------------------------------------


class RecordingInfo(msgspec.Struct, frozen=True):
    """A recording, understood: its header, time span and the precision of its first events."""

    path: Path
    header: RecordingHeader
    first_ms: int
    last_ms: int
    price_decimals: int
    qty_decimals: int


def is_recording(path: Path) -> bool:
    """True for a file that starts like a casino-tui recording (gzip, then a header frame)."""
    try:
        with path.open("rb") as raw:
            if raw.read(2) != _GZIP_MAGIC:
                return False
        read_header(path)
    except (OSError, ReplayFormatError):
        return False
    return True


def read_header(path: Path) -> RecordingHeader:
    with gzip.open(path, "rb") as stream:
        for _, payload in _frames(stream, path.name, BadRows(0)):
            return _header(path, payload)
    raise ReplayFormatError(f"{path.name}: not a casino-tui recording (no header)")


def _header(path: Path, payload: bytes) -> RecordingHeader:
    try:
        header = _decode_header(payload)
    except msgspec.DecodeError:
        raise ReplayFormatError(f"{path.name}: not a casino-tui recording") from None
    if header.magic != MAGIC:
        raise ReplayFormatError(f"{path.name}: not a casino-tui recording")
    if header.version != FORMAT_VERSION:
        raise ReplayFormatError(
            f"{path.name}: recording format {header.version}, this version reads {FORMAT_VERSION}"
        )
    return header


def scan_recording(path: Path) -> RecordingInfo:
    """Read the header, a sample of events (for precision) and the last batch (for the end of the span)."""
    first: list[Event] = []
    last_payload = b""
    with gzip.open(path, "rb") as stream:
        frames = _frames(stream, path.name, BadRows(0))
        header = None
        for index, payload in frames:
            if index == 1:
                header = _header(path, payload)
            elif len(first) < SAMPLE_EVENTS:
                first.extend(_events(payload, path.name, index, BadRows(0)))
            last_payload = payload
    if header is None:
        raise ReplayFormatError(f"{path.name}: not a casino-tui recording (no header)")
    last = _events(last_payload, path.name, 0, BadRows(0)) if first else []
    if not first or not last:
        raise ReplayFormatError(f"{path.name}: the recording holds no market data")
    trades = [e for e in first if type(e) is Trade]
    return RecordingInfo(
        path=path,
        header=header,
        first_ms=min(e.ts_ms for e in first),
        last_ms=max(e.ts_ms for e in last),
        price_decimals=finest_decimals(e.price for e in first),
        qty_decimals=finest_decimals(t.qty for t in trades),
    )


def read_recording(path: Path, bad: BadRows, from_ms: int, to_ms: int) -> Iterator[Event]:
    """Every event with `from_ms <= ts_ms < to_ms`, in recorded order, exactly as recorded."""
    for frame in read_recording_frames(path, bad, from_ms, to_ms):
        yield from frame


def read_recording_frames(path: Path, bad: BadRows, from_ms: int, to_ms: int) -> Iterator[list[Event]]:
    """`read_recording` a recorded batch at a time."""
    with gzip.open(path, "rb") as stream:
        for index, payload in _frames(stream, path.name, bad):
            if index == 1:
                continue
            events = _events(payload, path.name, index, bad)
            selected = [e for e in events if from_ms <= e.ts_ms < to_ms]
            if selected:
                yield selected


def _events(payload: bytes, name: str, index: int, bad: BadRows) -> list[Event]:
    try:
        rows = _decode_batch(payload)
    except msgspec.DecodeError as exc:
        bad.add(name, index, f"undecodable batch: {exc}")
        return []
    return [
        Trade(r.symbol, r.price, r.qty, r.ts_ms, r.buyer_is_maker)
        if type(r) is _TradeRow
        else MarkPriceTick(r.symbol, r.price, r.ts_ms)
        for r in rows
    ]


def _frames(stream: gzip.GzipFile, name: str, bad: BadRows) -> Iterator[tuple[int, bytes]]:
    """(1-based frame number, payload); a recording cut short ends at its last whole frame, counted once."""
    index = 0
    read = stream.read
    while True:
        index += 1
        try:
            prefix = read(_LENGTH.size)
            if not prefix:
                return
            if len(prefix) < _LENGTH.size:
                raise EOFError("cut inside a frame length")
            (length,) = _LENGTH.unpack(prefix)
            if length > MAX_FRAME_BYTES:
                # Not a frame of ours (a gzipped CSV, say): never read a made-up length into memory.
                raise ReplayFormatError(
                    f"{name}: not a casino-tui recording (frame {index} of {length} bytes)"
                )
            payload = read(length)
            if len(payload) < length:
                raise EOFError("cut inside a frame")
        except EOFError as exc:
            bad.add(name, index, f"recording ends early ({exc})")
            return
        except (zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise ReplayDataError(f"{name}: corrupt recording at frame {index}: {exc}") from None
        yield index, payload
