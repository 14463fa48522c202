"""Decoding Binance combined-stream frames: aggTrade, markPriceUpdate, kline, other events, malformed input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casino_tui.exchange.decode import DecodeError, MarkPrice, decode_frame, trade_frame
from casino_tui.model import Candle, Trade

AGG_TRADE = (
    b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1767225600123,"s":"BTCUSDT","a":5933014,'
    b'"p":"97000.10","q":"0.010","nq":"0.010","f":100,"l":105,"T":1767225600120,"m":true}}'
)
MARK_PRICE = (
    b'{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT",'
    b'"p":"11794.15000000","ap":"11794.15000000","i":"11784.62659091","P":"11784.25641265",'
    b'"r":"0.00038167","T":1562306400000}}'
)
KLINE = (
    b'{"stream":"ethusdt@kline_1m","data":{"e":"kline","E":1767225660001,"s":"ETHUSDT","k":{'
    b'"t":1767225600000,"T":1767225659999,"s":"ETHUSDT","i":"1m","f":100,"L":200,"o":"3400.01",'
    b'"c":"3410.50","h":"3412.00","l":"3399.99","v":"1523.456","n":101,"x":true,"q":"5190000.1",'
    b'"V":"800.1","Q":"2720000.2","B":"0"}}}'
)


def test_agg_trade_becomes_a_trade_with_float_price_and_qty():
    assert decode_frame(AGG_TRADE) == Trade("BTCUSDT", 97000.10, 0.010, 1767225600120, True)


def test_agg_trade_decodes_from_text_too():
    assert decode_frame(AGG_TRADE.decode()) == decode_frame(AGG_TRADE)


def test_mark_price_update_becomes_a_mark_price():
    assert decode_frame(MARK_PRICE) == MarkPrice(
        symbol="BTCUSDT",
        price=11794.15,
        ts_ms=1562305380000,
        index_price=11784.62659091,
        funding_rate=0.00038167,
        next_funding_ms=1562306400000,
    )


def test_kline_becomes_a_candle_carrying_the_closed_flag():
    assert decode_frame(KLINE) == Candle(
        "ETHUSDT", "1m", 1767225600000, 3400.01, 3412.0, 3399.99, 3410.5, 1523.456, 101
    )
    still_open = decode_frame(KLINE.replace(b'"x":true', b'"x":false'))
    assert isinstance(still_open, Candle) and not still_open.closed


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1,"E":2,"T":3,"s":"BTCUSDT",'
        b'"b":"1.0","B":"2","a":"1.1","A":"3"}}',
        b'{"stream":"btcusdt@depth5","data":{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":1,"u":2,'
        b'"pu":0,"b":[["1.0","2"]],"a":[]}}',
        b'{"result":null,"id":1}',
        b'{"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1.0"}]}',
    ],
    ids=["bookTicker", "depthUpdate", "subscribe-reply", "mark-price-array"],
)
def test_frames_of_other_events_give_none(frame):
    assert decode_frame(frame) is None


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"not json",
        AGG_TRADE[:-7],
        b"[1, 2, 3]",
        b'"aggTrade"',
        AGG_TRADE.replace(b'"p":"97000.10",', b""),
        AGG_TRADE.replace(b'"p":"97000.10"', b'"p":"ninety-seven"'),
        AGG_TRADE.replace(b'"T":1767225600120', b'"T":[1]'),
        AGG_TRADE.replace(b'"s":"BTCUSDT"', b'"s":null'),
        MARK_PRICE.replace(b'"p":"11794.15000000",', b""),
        KLINE.replace(b'"o":"3400.01",', b""),
        b'{"stream":"x","data":{"s":"BTCUSDT","p":"1.0"}}',
        b'{"stream":"x","data":42}',
    ],
    ids=[
        "empty",
        "not-json",
        "truncated",
        "top-level-array",
        "top-level-string",
        "trade-missing-price",
        "trade-price-not-a-number",
        "trade-time-wrong-type",
        "trade-symbol-null",
        "mark-missing-price",
        "kline-missing-open",
        "payload-without-event",
        "payload-not-an-object",
    ],
)
def test_malformed_frames_raise_one_decode_error(frame):
    with pytest.raises(DecodeError, match="malformed frame"):
        decode_frame(frame)


def test_numbers_sent_as_json_numbers_are_accepted():
    frame = AGG_TRADE.replace(b'"p":"97000.10"', b'"p":97000.1').replace(b'"q":"0.010"', b'"q":0.01')
    assert decode_frame(frame) == Trade("BTCUSDT", 97000.1, 0.01, 1767225600120, True)


def test_missing_buyer_is_maker_defaults_to_false():
    trade = decode_frame(AGG_TRADE.replace(b',"m":true', b""))
    assert isinstance(trade, Trade) and trade.buyer_is_maker is False


@given(
    price=st.floats(min_value=1e-8, max_value=1e7, allow_nan=False, allow_infinity=False),
    qty=st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False),
    ts_ms=st.integers(min_value=0, max_value=2**53),
    maker=st.booleans(),
)
def test_trade_frame_round_trips_through_decode(price, qty, ts_ms, maker):
    trade = Trade("SOLUSDT", price, qty, ts_ms, maker)
    decoded = decode_frame(trade_frame(trade, agg_id=7))
    assert decoded == trade
    assert isinstance(decoded, Trade) and math.isfinite(decoded.price)
