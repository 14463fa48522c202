"""Market stream names as fstream.binance.com spells them (BINANCE.md §7), parsed into what to send.

Per symbol (lower case): `@aggTrade`, `@trade`, `@markPrice[@1s]`, `@kline_<i>`, `@bookTicker`,
`@depth<5|10|20>[@100ms|@500ms]` (partial book), `@depth[@100ms|@500ms]` (diff), `@miniTicker`, `@ticker`,
`@forceOrder`, and `<pair>_perpetual@continuousKline_<i>`. All market: `!bookTicker`,
`!markPrice@arr[@1s]`, `!miniTicker@arr`, `!ticker@arr`, `!forceOrder@arr`, `!contractInfo`.
"""

from __future__ import annotations

import enum
import re

import msgspec

from casino_tui.sandbox import intervals


class StreamKind(enum.StrEnum):
    AGG_TRADE = "aggTrade"
    TRADE = "trade"
    MARK_PRICE = "markPrice"
    KLINE = "kline"
    CONTINUOUS_KLINE = "continuousKline"
    BOOK_TICKER = "bookTicker"
    PARTIAL_DEPTH = "partialDepth"
    DIFF_DEPTH = "diffDepth"
    MINI_TICKER = "miniTicker"
    TICKER = "ticker"
    FORCE_ORDER = "forceOrder"
    CONTRACT_INFO = "contractInfo"


class StreamSpec(msgspec.Struct, frozen=True):
    """A parsed stream name; `symbol` is "" for all-market streams (`!…`)."""

    name: str
    symbol: str
    kind: StreamKind
    interval: str = ""  # kline interval
    period_ms: int = 0  # how often the stream pushes (0: on every event)
    levels: int = 0  # partial book depth

    @property
    def all_market(self) -> bool:
        return not self.symbol


# Pushes per stream, from the stream pages' "Update Speed".
MARK_MS = 3000
TICKER_MS = 2000
ALL_TICKERS_MS = 1000
ALL_BOOK_TICKER_MS = 5000
DEPTH_MS = 250
_SPEEDS = {"": DEPTH_MS, "@100ms": 100, "@500ms": 500}
_DEPTH = re.compile(r"^depth(5|10|20)?(@100ms|@500ms)?$")

_ALL_MARKET = {
    "!bookTicker": (StreamKind.BOOK_TICKER, ALL_BOOK_TICKER_MS),
    "!markPrice@arr": (StreamKind.MARK_PRICE, MARK_MS),
    "!markPrice@arr@1s": (StreamKind.MARK_PRICE, 1000),
    "!miniTicker@arr": (StreamKind.MINI_TICKER, ALL_TICKERS_MS),
    "!ticker@arr": (StreamKind.TICKER, ALL_TICKERS_MS),
    "!forceOrder@arr": (StreamKind.FORCE_ORDER, 0),
    "!contractInfo": (StreamKind.CONTRACT_INFO, 0),
}
_SIMPLE = {
    "aggTrade": (StreamKind.AGG_TRADE, 0),
    "trade": (StreamKind.TRADE, 0),
    "bookTicker": (StreamKind.BOOK_TICKER, 0),
    "markPrice": (StreamKind.MARK_PRICE, MARK_MS),
    "markPrice@3s": (StreamKind.MARK_PRICE, MARK_MS),
    "markPrice@1s": (StreamKind.MARK_PRICE, 1000),
    "miniTicker": (StreamKind.MINI_TICKER, TICKER_MS),
    "ticker": (StreamKind.TICKER, TICKER_MS),
    "forceOrder": (StreamKind.FORCE_ORDER, 0),
}


def parse_stream(name: str, symbols: set[str]) -> StreamSpec | None:
    """The stream `name` refers to, or None if it is not one the sandbox serves (symbols must be lower case)."""
    if name in _ALL_MARKET:
        kind, period = _ALL_MARKET[name]
        return StreamSpec(name, "", kind, period_ms=period)
    sym, sep, rest = name.partition("@")
    if not sep or sym != sym.lower():
        return None
    if rest.startswith("continuousKline_"):
        # Only perpetual contracts are listed, so `<pair>_perpetual` is the one contract type served.
        pair, _, contract = sym.partition("_")
        interval = rest.removeprefix("continuousKline_")
        if contract != "perpetual" or pair.upper() not in symbols or interval not in intervals.INTERVAL_MS:
            return None
        return StreamSpec(name, pair.upper(), StreamKind.CONTINUOUS_KLINE, interval=interval)
    symbol = sym.upper()
    if symbol not in symbols:
        return None
    if rest in _SIMPLE:
        kind, period = _SIMPLE[rest]
        return StreamSpec(name, symbol, kind, period_ms=period)
    if rest.startswith("kline_") and rest[6:] in intervals.INTERVAL_MS:
        return StreamSpec(name, symbol, StreamKind.KLINE, interval=rest[6:])
    depth = _DEPTH.match(rest)
    if depth is not None:
        levels, speed = depth.group(1), depth.group(2) or ""
        if levels:
            return StreamSpec(
                name, symbol, StreamKind.PARTIAL_DEPTH, period_ms=_SPEEDS[speed], levels=int(levels)
            )
        return StreamSpec(name, symbol, StreamKind.DIFF_DEPTH, period_ms=_SPEEDS[speed])
    return None
