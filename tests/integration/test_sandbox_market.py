"""Public REST endpoints of the sandbox: shapes as Binance sends them, weights in the headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer, running_sandbox

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[SandboxServer, ManualClock]]:
    clock = ManualClock()
    async with running_sandbox(clock=clock, symbols=SYMBOLS) as server:
        clock.advance(90_000)  # a minute and a half of trading: one closed live candle and an open one
        server.sim.pump()
        yield server, clock


@pytest.fixture
async def http(sandbox: tuple[SandboxServer, ManualClock]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox[0].base_url) as client:
        yield client


async def test_ping_and_time(sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient) -> None:
    assert (await http.get("/fapi/v1/ping")).json() == {}
    assert (await http.get("/fapi/v1/time")).json() == {"serverTime": sandbox[1].now_ms()}


async def test_exchange_info_lists_symbols_with_binance_filters_and_three_rate_limits(
    http: httpx.AsyncClient,
) -> None:
    info = (await http.get("/fapi/v1/exchangeInfo")).json()
    assert info["timezone"] == "UTC"
    assert [
        (r["rateLimitType"], r["interval"], r["intervalNum"], r["limit"]) for r in info["rateLimits"]
    ] == [
        ("REQUEST_WEIGHT", "MINUTE", 1, 2400),
        ("ORDERS", "MINUTE", 1, 1200),
        ("ORDERS", "SECOND", 10, 300),
    ]
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["contractType"] == "PERPETUAL" and btc["status"] == "TRADING"
    assert (btc["baseAsset"], btc["quoteAsset"], btc["marginAsset"]) == ("BTC", "USDT", "USDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL", "PERCENT_PRICE"} <= set(filters)
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert float(filters["MARKET_LOT_SIZE"]["maxQty"]) <= float(filters["LOT_SIZE"]["maxQty"])
    assert filters["MIN_NOTIONAL"]["notional"] == "100"
    assert filters["PERCENT_PRICE"]["multiplierUp"] == "1.0500"
    assert (btc["pricePrecision"], btc["quantityPrecision"]) == (1, 3)


async def test_klines_are_rows_of_twelve_with_the_open_candle_last(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    rows = (
        await http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 5})
    ).json()
    assert len(rows) == 5
    for row in rows:
        assert len(row) == 12
        open_ms, o, h, low, c, v, close_ms, quote, trades, tb_base, tb_quote, _ = row
        assert isinstance(open_ms, int) and isinstance(close_ms, int) and isinstance(trades, int)
        assert close_ms == open_ms + 59_999
        assert all(isinstance(x, str) for x in (o, h, low, c, v, quote, tb_base, tb_quote))
        assert float(low) <= min(float(o), float(c)) <= max(float(o), float(c)) <= float(h)
    assert [b[0] - a[0] for a, b in zip(rows, rows[1:], strict=False)] == [60_000] * 4
    now = sandbox[1].now_ms()
    assert rows[-1][0] == now // 60_000 * 60_000  # the candle still open, as Binance returns it


async def test_klines_of_intervals_the_sim_does_not_keep_are_aggregated(http: httpx.AsyncClient) -> None:
    one_hour = (
        await http.get("/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "1h", "limit": 8})
    ).json()
    four_hours = (
        await http.get("/fapi/v1/klines", params={"symbol": "ETHUSDT", "interval": "4h", "limit": 2})
    ).json()
    assert four_hours[-2][6] - four_hours[-2][0] == 4 * 3_600_000 - 1
    closed = [r for r in one_hour if four_hours[-2][0] <= r[0] < four_hours[-1][0]]
    assert len(closed) == 4
    assert four_hours[-2][1] == closed[0][1] and four_hours[-2][4] == closed[-1][4]
    assert float(four_hours[-2][2]) == max(float(r[2]) for r in closed)


async def test_klines_reject_unknown_intervals(http: httpx.AsyncClient) -> None:
    bad = await http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "7m"})
    assert (bad.status_code, bad.json()["code"]) == (400, -1120)
    unknown = await http.get("/fapi/v1/klines", params={"symbol": "NOPEUSDT", "interval": "1m"})
    assert unknown.json() == {"code": -1121, "msg": "Invalid symbol."}


async def test_ticker_price_one_and_all_in_v1_and_v2(http: httpx.AsyncClient) -> None:
    one = (await http.get("/fapi/v1/ticker/price", params={"symbol": "BTCUSDT"})).json()
    assert set(one) == {"symbol", "price", "time"} and float(one["price"]) > 0
    every = (await http.get("/fapi/v2/ticker/price")).json()
    assert [t["symbol"] for t in every] == SYMBOLS


async def test_premium_index_and_depth(http: httpx.AsyncClient) -> None:
    mark = (await http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"})).json()
    assert float(mark["markPrice"]) > 0 and isinstance(mark["nextFundingTime"], int)
    assert mark["nextFundingTime"] % (8 * 3_600_000) == 0
    book = (await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 10})).json()
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])
    assert [float(b[0]) for b in book["bids"]] == sorted((float(b[0]) for b in book["bids"]), reverse=True)
    bad = await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 7})
    assert bad.json()["code"] == -1130


async def test_used_weight_header_grows_by_each_endpoint_weight(http: httpx.AsyncClient) -> None:
    first = await http.get("/fapi/v1/ping")
    base = int(first.headers["X-MBX-USED-WEIGHT-1M"])
    all_marks = await http.get("/fapi/v1/premiumIndex")  # weight 10 without a symbol
    assert int(all_marks.headers["X-MBX-USED-WEIGHT-1M"]) == base + 10
    klines = await http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1000})
    assert int(klines.headers["X-MBX-USED-WEIGHT-1M"]) == base + 15
    assert "X-MBX-ORDER-COUNT-1M" not in klines.headers


async def test_unknown_path_is_404_and_still_weighed(http: httpx.AsyncClient) -> None:
    before = int((await http.get("/fapi/v1/ping")).headers["X-MBX-USED-WEIGHT-1M"])
    missing = await http.get("/fapi/v1/nothingHere")
    assert missing.status_code == 404
    assert missing.json() == {"code": -5000, "msg": "Path /fapi/v1/nothingHere, Method GET is invalid"}
    assert int(missing.headers["X-MBX-USED-WEIGHT-1M"]) == before + 1
