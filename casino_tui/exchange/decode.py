"""Decoding of Binance combined-stream market frames (aggTrade, markPriceUpdate, kline) with msgspec.

One typed decoder, tagged by the payload's "e", parses each frame straight into Structs; price strings
become floats inside msgspec (`strict=False`), once. Frames of other events (bookTicker, subscribe replies,
...) give None; a frame that is not JSON, or a known event with missing or mistyped fields, raises
`DecodeError` so the caller can count it and carry on.
"""

from __future__ import annotations

from typing import Any, final

import msgspec

from casino_tui.model import Candle, Trade
from casino_tui.port import ExchangeError

KNOWN_EVENTS = frozenset({"aggTrade", "markPriceUpdate", "kline"})


class DecodeError(ExchangeError):
    """A market frame that could not be decoded (bad JSON, or a known event with bad fields)."""


@final
class MarkPrice(msgspec.Struct, frozen=True, gc=False, tag="markPriceUpdate", tag_field="e"):
    """A mark price update (`<symbol>@markPrice`). Decoded straight from the wire: field names map to keys."""

    symbol: str = msgspec.field(name="s")
    price: float = msgspec.field(name="p")
    ts_ms: int = msgspec.field(name="E")
    index_price: float = msgspec.field(default=0.0, name="i")
    funding_rate: float = msgspec.field(default=0.0, name="r")
    next_funding_ms: int = msgspec.field(default=0, name="T")


@final
class _AggTrade(msgspec.Struct, frozen=True, gc=False, tag="aggTrade", tag_field="e"):
    s: str
    p: float
    q: float
    T: int
    m: bool = False


class _KlineBody(msgspec.Struct, frozen=True, gc=False):
    t: int
    s: str
    i: str
    o: float
    c: float
    h: float
    l: float  # noqa: E741 - Binance's key
    v: float
    n: int = 0
    x: bool = False


class _Kline(msgspec.Struct, frozen=True, gc=False, tag="kline", tag_field="e"):
    k: _KlineBody


class _Frame(msgspec.Struct, frozen=True, gc=False):
    # "stream" is not read: every payload names its symbol, and skipping the key is cheaper than keeping it.
    data: _AggTrade | MarkPrice | _Kline


class _LooseFrame(msgspec.Struct, frozen=True, gc=False):
    """Any JSON object: used only after the typed decoder failed, to tell 'other event' from 'malformed'."""

    data: Any = None


_decode_typed = msgspec.json.Decoder(_Frame, strict=False).decode
_decode_loose = msgspec.json.Decoder(_LooseFrame).decode


def decode_frame(raw: bytes | str) -> Trade | MarkPrice | Candle | None:
    """Decode one combined-stream frame: a Trade, a MarkPrice, a Candle (kline; `closed` = Binance's "x"),
    or None for frames of other events and non-event replies. Raises DecodeError for malformed frames."""
    try:
        data = _decode_typed(raw).data
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        _raise_unless_foreign(raw, exc)
        return None
    if type(data) is _AggTrade:
        return Trade(data.s, data.p, data.q, data.T, data.m)
    if type(data) is MarkPrice:
        return data
    k = data.k
    return Candle(k.s, k.i, k.t, k.o, k.h, k.l, k.c, k.v, k.n, k.x)


def _raise_unless_foreign(raw: bytes | str, exc: msgspec.DecodeError) -> None:
    """Pass a well-formed frame of an event we do not consume; raise DecodeError for anything else."""
    try:
        frame = _decode_loose(raw)
    except msgspec.DecodeError:
        raise DecodeError(f"malformed frame: {exc}") from exc
    data = frame.data
    if data is None or isinstance(data, list):
        # Subscribe replies ({"result":null,"id":1}) and array payloads (!markPrice@arr) are not ours.
        return None
    if isinstance(data, dict) and isinstance(data.get("e"), str) and data["e"] not in KNOWN_EVENTS:
        return None
    raise DecodeError(f"malformed frame: {exc}") from exc


def trade_frame(trade: Trade, event_ms: int | None = None, agg_id: int = 0) -> bytes:
    """The combined-stream aggTrade frame Binance would send for `trade` (for the sandbox, tests, benchmarks)."""
    data = {
        "e": "aggTrade",
        "E": trade.ts_ms if event_ms is None else event_ms,
        "s": trade.symbol,
        "a": agg_id,
        "p": repr(trade.price),
        "q": repr(trade.qty),
        "f": agg_id,
        "l": agg_id,
        "T": trade.ts_ms,
        "m": trade.buyer_is_maker,
    }
    return msgspec.json.encode({"stream": f"{trade.symbol.lower()}@aggTrade", "data": data})
