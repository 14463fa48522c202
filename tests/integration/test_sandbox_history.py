"""Account history and account facts other Binance clients read: allOrders, allAlgoOrders, userTrades, income,
leverageBracket, commissionRate, ticker/24hr, and the admin request counts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sandbox_support import API_KEY, SignedClient

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer, running_sandbox

DAY_MS = 86_400_000


class Account:
    """A running sandbox and a signing client."""

    def __init__(self, server: SandboxServer, clock: ManualClock, client: SignedClient) -> None:
        self.server = server
        self.clock = clock
        self.client = client

    async def market(self, side: str, qty: str, cid: str, **extra: str) -> dict:
        reply = await self.client.post(
            "/fapi/v1/order",
            symbol="ETHUSDT",
            side=side,
            type="MARKET",
            quantity=qty,
            newClientOrderId=cid,
            **extra,
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def get(self, path: str, **params: object) -> object:
        reply = await self.client.get(path, **params)
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture
async def account() -> AsyncIterator[Account]:
    clock = ManualClock()
    async with running_sandbox(clock=clock, symbols=["BTCUSDT", "ETHUSDT"]) as server:
        clock.advance(90_000)
        server.sim.pump()
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            yield Account(server, clock, SignedClient(http, clock))


async def test_all_orders_lists_oldest_first_from_an_order_id_or_the_latest(account: Account) -> None:
    ids = [(await account.market("BUY", "0.100", f"buy-{n}"))["orderId"] for n in range(3)]
    every = await account.get("/fapi/v1/allOrders", symbol="ETHUSDT")
    assert [o["orderId"] for o in every] == ids and {o["status"] for o in every} == {"FILLED"}
    assert all(isinstance(o["time"], int) for o in every)
    from_second = await account.get("/fapi/v1/allOrders", symbol="ETHUSDT", orderId=ids[1])
    assert [o["orderId"] for o in from_second] == ids[1:]
    latest = await account.get("/fapi/v1/allOrders", symbol="ETHUSDT", limit=1)
    assert [o["orderId"] for o in latest] == ids[2:]


async def test_history_windows_cover_seven_days_at_most(account: Account) -> None:
    await account.market("BUY", "0.100", "old")
    account.clock.advance(8 * DAY_MS)
    assert await account.get("/fapi/v1/allOrders", symbol="ETHUSDT") == []  # default: the last 7 days
    now = account.clock.now_ms()
    too_long = await account.client.get("/fapi/v1/income", startTime=now - 8 * DAY_MS, endTime=now)
    assert too_long.status_code == 400 and too_long.json()["code"] == -1127


async def test_income_has_a_commission_per_fill_and_the_realized_pnl_of_a_close(account: Account) -> None:
    await account.market("BUY", "0.200", "open")
    await account.market("SELL", "0.200", "close", reduceOnly="true")
    trades = await account.get("/fapi/v1/userTrades", symbol="ETHUSDT")
    income = await account.get("/fapi/v1/income", symbol="ETHUSDT")
    fees = [row for row in income if row["incomeType"] == "COMMISSION"]
    assert [row["tradeId"] for row in fees] == [str(t["id"]) for t in trades]
    assert [float(row["income"]) for row in fees] == [-float(t["commission"]) for t in trades]
    (pnl,) = [row for row in income if row["incomeType"] == "REALIZED_PNL"]
    assert pnl["tradeId"] == str(trades[1]["id"]) and float(pnl["income"]) == float(trades[1]["realizedPnl"])
    only_pnl = await account.get("/fapi/v1/income", incomeType="REALIZED_PNL")
    assert only_pnl == [pnl]


async def test_all_algo_orders_keeps_cancelled_conditional_orders(account: Account) -> None:
    placed = await account.client.post(
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL", symbol="ETHUSDT", side="SELL", type="STOP_MARKET", triggerPrice="1000.00",
        quantity="0.100", reduceOnly="true", clientAlgoId="stop-1",
    )  # fmt: skip
    assert placed.status_code == 200, placed.text
    await account.client.delete("/fapi/v1/algoOrder", clientAlgoId="stop-1")
    listed = await account.get("/fapi/v1/allAlgoOrders", symbol="ETHUSDT")
    assert [(a["clientAlgoId"], a["algoStatus"]) for a in listed] == [("stop-1", "CANCELED")]
    assert await account.get("/fapi/v1/openAlgoOrders", symbol="ETHUSDT") == []


async def test_brackets_and_fees_are_what_the_sim_applies(account: Account) -> None:
    one = await account.get("/fapi/v1/leverageBracket", symbol="ETHUSDT")
    assert one == {
        "symbol": "ETHUSDT",
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": 125,
                "notionalCap": 1_000_000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.004,
                "cum": 0,
            }
        ],
    }
    every = await account.get("/fapi/v1/leverageBracket")
    assert [row["symbol"] for row in every] == ["BTCUSDT", "ETHUSDT"]
    fees = await account.get("/fapi/v1/commissionRate", symbol="ETHUSDT")
    matching = account.server.sim.matching
    assert float(fees["makerCommissionRate"]) == matching.maker_fee
    assert float(fees["takerCommissionRate"]) == matching.taker_fee


async def test_24hr_ticker_spans_the_last_day_of_trading(account: Account) -> None:
    http = account.client.http
    one = (await http.get("/fapi/v1/ticker/24hr", params={"symbol": "BTCUSDT"})).json()
    assert one["closeTime"] - one["openTime"] == DAY_MS and one["closeTime"] == account.clock.now_ms()
    assert float(one["lowPrice"]) <= float(one["openPrice"]) <= float(one["highPrice"])
    assert float(one["lowPrice"]) <= float(one["lastPrice"]) <= float(one["highPrice"])
    assert one["count"] == one["lastId"] - one["firstId"] + 1 > 1000  # a day of sim history, not 90 s
    last = (await http.get("/fapi/v1/ticker/price", params={"symbol": "BTCUSDT"})).json()
    assert one["lastPrice"] == last["price"]
    every = (await http.get("/fapi/v1/ticker/24hr")).json()
    assert [t["symbol"] for t in every] == ["BTCUSDT", "ETHUSDT"]


async def test_admin_counts_requests_per_route_and_orders_per_client_id(account: Account) -> None:
    http = account.client.http
    await account.market("BUY", "0.100", "counted")
    await http.get("/fapi/v1/time")
    await http.get("/fapi/v1/time")
    await http.get("/fapi/v1/noSuchThing", headers={"X-MBX-APIKEY": API_KEY})
    counts = (await http.get("/__admin__/requests")).json()
    assert counts["requests"]["GET /fapi/v1/time"] == 2
    assert counts["requests"]["POST /fapi/v1/order"] == 1
    assert counts["requests"]["GET /fapi/v1/noSuchThing"] == 1
    assert counts["orders"] == {"counted": 1}
