"""The sandbox's depth streams: a REST snapshot plus the diff events after it rebuild the book, as in
Binance's "How to manage a local order book correctly"; partial depth sends the top levels."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from casino_tui.exchange.sim.market import sim_symbol
from casino_tui.model import Trade
from casino_tui.sandbox import book
from casino_tui.sandbox.connection import Connection
from casino_tui.sandbox.faults import Faults
from casino_tui.sandbox.market_feed import MarketFeed
from casino_tui.sandbox.numbers import SymbolFormat
from casino_tui.sandbox.streams import parse_stream

FMT = SymbolFormat(sim_symbol("BTCUSDT")[0])
START_PRICE = 95_000.0


class Recording(Connection):
    """A subscriber that keeps the frames pushed to it instead of writing them to a socket."""

    def __init__(self) -> None:
        super().__init__(websocket=None, combined=False)  # type: ignore[arg-type]
        self.frames: list[dict] = []

    def push(self, frame: str) -> None:
        self.frames.append(msgspec.json.decode(frame))


def _feed(stream: str) -> tuple[MarketFeed, Recording]:
    feed = MarketFeed({"BTCUSDT": FMT}, Faults())
    conn = Recording()
    spec = parse_stream(stream, feed.symbols)
    assert spec is not None
    feed.on_trade(Trade("BTCUSDT", START_PRICE, 0.01, 1_000))
    feed.subscribe(conn, spec)
    return feed, conn


def _as_book(levels: list[list[str]]) -> dict[str, str]:
    return {price: qty for price, qty in levels}


# (price move in ticks, milliseconds to the next trade) for each trade after the subscription.
moves = st.lists(st.tuples(st.integers(-6, 6), st.integers(1, 150)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(moves=moves, snapshot_at=st.integers(0, 59))
def test_a_snapshot_plus_the_diff_events_after_it_rebuild_the_book(moves, snapshot_at) -> None:
    feed, conn = _feed("btcusdt@depth@100ms")
    price, ts = START_PRICE, 1_000
    snapshot = None
    for i, (ticks, gap_ms) in enumerate(moves):
        if i == min(snapshot_at, len(moves) - 1):
            bids, asks = book.depth(FMT, price, book.MAX_LEVELS)
            snapshot = (feed.book_update_id("BTCUSDT"), _as_book(bids), _as_book(asks))
        price += ticks * FMT.tick
        ts += gap_ms
        feed.on_trade(Trade("BTCUSDT", price, 0.01, ts))
    feed.on_trade(Trade("BTCUSDT", price, 0.01, ts + 100))  # due: whatever is pending is sent
    assert snapshot is not None
    last_id, local_bids, local_asks = snapshot

    events = [e for e in conn.frames if e["u"] > last_id]
    if events:
        assert events[0]["U"] <= last_id + 1 <= events[0]["u"]
    for before, after in zip(events, events[1:], strict=False):
        assert after["pu"] == before["u"]
    for event in events:
        for side, changes in ((local_bids, event["b"]), (local_asks, event["a"])):
            for level_price, qty in changes:
                if qty == "0":
                    side.pop(level_price, None)
                else:
                    side[level_price] = qty

    bids, asks = book.depth(FMT, price, book.MAX_LEVELS)
    assert local_bids == _as_book(bids)
    assert local_asks == _as_book(asks)


def test_diff_events_carry_only_the_levels_that_moved() -> None:
    feed, conn = _feed("btcusdt@depth")
    feed.on_trade(Trade("BTCUSDT", START_PRICE + 3 * FMT.tick, 0.01, 2_000))
    (event,) = conn.frames
    assert event["e"] == "depthUpdate" and event["pu"] == event["U"] - 1
    assert 0 < len(event["b"]) + len(event["a"]) <= 20  # the edges, not the 2,000-level book


def test_partial_depth_sends_the_top_levels_each_period() -> None:
    feed, conn = _feed("btcusdt@depth5@500ms")
    for ts in (1_100, 1_300, 1_600, 1_700, 2_200):
        feed.on_trade(Trade("BTCUSDT", START_PRICE, 0.01, ts))
    assert [len(f["b"]) for f in conn.frames] == [5, 5, 5]  # at 1.1 s, 1.6 s and 2.2 s
    assert [f["pu"] for f in conn.frames[1:]] == [f["u"] for f in conn.frames[:-1]]
    bids, asks = book.depth(FMT, START_PRICE, 5)
    assert (conn.frames[-1]["b"], conn.frames[-1]["a"]) == (bids, asks)
