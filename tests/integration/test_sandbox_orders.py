"""Orders through the sandbox: REST answers and the user data stream, plain and Algo (conditional) orders."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from sandbox_support import API_KEY, Frames, SignedClient, is_event, market_step

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer, running_sandbox


class Rig:
    """A running sandbox, a signing client and an open user data stream."""

    def __init__(self, server: SandboxServer, clock: ManualClock, client: SignedClient, user: Frames) -> None:
        self.server = server
        self.clock = clock
        self.client = client
        self.user = user

    async def last_price(self, symbol: str = "BTCUSDT") -> float:
        reply = await self.client.http.get("/fapi/v1/ticker/price", params={"symbol": symbol})
        return float(reply.json()["price"])

    async def market(self, side: str, qty: str, cid: str, **extra: str) -> httpx.Response:
        return await self.client.post(
            "/fapi/v1/order",
            symbol="BTCUSDT",
            side=side,
            type="MARKET",
            quantity=qty,
            newClientOrderId=cid,
            **extra,
        )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock()
    async with running_sandbox(clock=clock, symbols=["BTCUSDT", "ETHUSDT"]) as server:
        server.sim.pump(clock.now_ms())
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            key = (await http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})).json()[
                "listenKey"
            ]
            ws = await websockets.connect(f"{server.ws_url}/private/ws?listenKey={key}")
            user = Frames(ws)
            yield Rig(server, clock, SignedClient(http, clock), user)
            await user.aclose()


async def test_market_order_fills_and_streams_order_and_account_updates(rig: Rig) -> None:
    reply = await rig.market("BUY", "0.010", "entry-1", newOrderRespType="RESULT")
    assert reply.status_code == 200, reply.text
    order = reply.json()
    assert (order["status"], order["executedQty"], order["type"]) == ("FILLED", "0.010", "MARKET")
    assert float(order["avgPrice"]) > 0 and isinstance(order["orderId"], int)
    assert reply.headers["X-MBX-ORDER-COUNT-10S"] == "1" and reply.headers["X-MBX-ORDER-COUNT-1M"] == "1"

    new = await rig.user.wait_for(is_event("ORDER_TRADE_UPDATE", c="entry-1", X="NEW"))
    assert (new["o"]["x"], new["o"]["z"], new["o"]["i"]) == ("NEW", "0", order["orderId"])
    fill = await rig.user.wait_for(is_event("ORDER_TRADE_UPDATE", c="entry-1", X="FILLED"))
    assert (fill["o"]["x"], fill["o"]["l"], fill["o"]["z"]) == ("TRADE", "0.010", "0.010")
    assert fill["o"]["L"] == order["avgPrice"] and fill["o"]["N"] == "USDT" and float(fill["o"]["n"]) > 0
    account = await rig.user.wait_for(lambda f: f.get("e") == "ACCOUNT_UPDATE")
    assert account["a"]["m"] == "ORDER"
    assert account["a"]["P"] == [
        {
            "s": "BTCUSDT",
            "pa": "0.010",
            "ep": account["a"]["P"][0]["ep"],
            "bep": account["a"]["P"][0]["bep"],
            "cr": "0",
            "up": account["a"]["P"][0]["up"],
            "mt": "cross",
            "iw": "0",
            "ps": "BOTH",
        }
    ]
    assert float(account["a"]["P"][0]["ep"]) == float(order["avgPrice"])
    assert rig.user.items.index(new) < rig.user.items.index(fill) < rig.user.items.index(account)


async def test_ack_reply_shows_the_order_new_even_when_it_filled(rig: Rig) -> None:
    ack = (await rig.market("SELL", "0.005", "short-1")).json()
    assert (ack["status"], ack["executedQty"]) == ("NEW", "0")
    queried = await rig.client.get("/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="short-1")
    assert queried.json()["status"] == "FILLED" and queried.json()["orderId"] == ack["orderId"]
    assert isinstance(queried.json()["time"], int)


async def test_conditional_types_on_the_order_endpoint_get_4120(rig: Rig) -> None:
    reply = await rig.client.post(
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice="90000.0",
        closePosition="true",
    )
    assert reply.status_code == 400
    assert reply.json() == {
        "code": -4120,
        "msg": "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    }


async def test_take_profit_and_stop_loss_follow_the_algo_lifecycle(rig: Rig) -> None:
    await rig.market("BUY", "0.010", "entry-2")
    last = await rig.last_price()
    brackets = {"tp-2": ("TAKE_PROFIT_MARKET", last + 0.5), "sl-2": ("STOP_MARKET", last - 0.5)}
    for cid, (kind, trigger) in brackets.items():
        reply = await rig.client.post(
            "/fapi/v1/algoOrder",
            algoType="CONDITIONAL",
            symbol="BTCUSDT",
            side="SELL",
            type=kind,
            triggerPrice=f"{trigger:.1f}",
            closePosition="true",
            workingType="MARK_PRICE",
            clientAlgoId=cid,
        )
        assert reply.status_code == 200, reply.text
        assert (reply.json()["algoStatus"], reply.json()["clientAlgoId"]) == ("NEW", cid)
        await rig.user.wait_for(is_event("ALGO_UPDATE", caid=cid, X="NEW"))

    plain = await rig.client.get("/fapi/v1/openOrders", symbol="BTCUSDT")
    assert plain.json() == []  # algo orders are not listed with plain orders
    algos = await rig.client.get("/fapi/v1/openAlgoOrders", symbol="BTCUSDT")
    assert sorted(a["clientAlgoId"] for a in algos.json()) == ["sl-2", "tp-2"]

    triggered = await rig.user.wait_for(
        is_event("ALGO_UPDATE", X="TRIGGERED"), advance=market_step(rig.server, rig.clock)
    )
    fired = triggered["o"]["caid"]
    child_id = int(triggered["o"]["ai"])
    assert triggered["o"]["act"] == "MARKET" and triggered["o"]["tt"] > 0
    child_new = await rig.user.wait_for(is_event("ORDER_TRADE_UPDATE", i=child_id, X="NEW"))
    assert child_new["o"]["ot"] == brackets[fired][0] and child_new["o"]["o"] == "MARKET"
    child_fill = await rig.user.wait_for(is_event("ORDER_TRADE_UPDATE", i=child_id, X="FILLED"))
    assert child_fill["o"]["z"] == "0.010" and child_fill["o"]["cp"] is True
    finished = await rig.user.wait_for(is_event("ALGO_UPDATE", caid=fired, X="FINISHED"))
    assert finished["o"]["aq"] == "0.010" and finished["o"]["ap"] == child_fill["o"]["ap"]
    other = "sl-2" if fired == "tp-2" else "tp-2"
    await rig.user.wait_for(is_event("ALGO_UPDATE", caid=other, X="EXPIRED"))  # the position is gone

    queried = (await rig.client.get("/fapi/v1/algoOrder", clientAlgoId=fired)).json()
    assert (queried["algoStatus"], queried["actualOrderId"]) == ("FINISHED", str(child_id))
    child = (await rig.client.get("/fapi/v1/order", symbol="BTCUSDT", orderId=child_id)).json()
    assert (child["status"], child["origType"], child["type"]) == ("FILLED", brackets[fired][0], "MARKET")
    assert (await rig.client.get("/fapi/v3/positionRisk")).json() == []


async def test_cancelled_algo_order_streams_canceled_and_answers_string_code(rig: Rig) -> None:
    await rig.market("BUY", "0.010", "entry-3")
    last = await rig.last_price()
    placed = await rig.client.post(
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        triggerPrice=f"{last * 0.9:.1f}",
        quantity="0.010",
        reduceOnly="true",
        clientAlgoId="sl-3",
    )
    algo_id = placed.json()["algoId"]
    cancelled = await rig.client.delete("/fapi/v1/algoOrder", algoId=algo_id)
    assert cancelled.json() == {"algoId": algo_id, "clientAlgoId": "sl-3", "code": "200", "msg": "success"}
    await rig.user.wait_for(is_event("ALGO_UPDATE", caid="sl-3", X="CANCELED"))
    again = await rig.client.delete("/fapi/v1/algoOrder", algoId=algo_id)
    assert again.json()["code"] == -2011
    as_plain = await rig.client.get("/fapi/v1/order", symbol="BTCUSDT", orderId=algo_id)
    assert as_plain.json()["code"] == -2013  # algo ids are not order ids


async def test_limit_order_rests_until_cancelled(rig: Rig) -> None:
    last = await rig.last_price()
    placed = await rig.client.post(
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=f"{last * 0.97:.1f}",
        newClientOrderId="bid-1",
    )
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["orderId"]
    open_now = (await rig.client.get("/fapi/v1/openOrders")).json()
    assert [(o["clientOrderId"], o["status"], o["timeInForce"]) for o in open_now] == [
        ("bid-1", "NEW", "GTC")
    ]
    assert open_now[0]["price"] == f"{last * 0.97:.1f}"
    duplicate = await rig.client.post(
        "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002",
        price=f"{last * 0.97:.1f}", newClientOrderId="bid-1",
    )  # fmt: skip
    assert duplicate.json()["code"] == -4116
    cancelled = await rig.client.delete("/fapi/v1/order", symbol="BTCUSDT", orderId=order_id)
    assert cancelled.json()["status"] == "CANCELED"
    await rig.user.wait_for(is_event("ORDER_TRADE_UPDATE", c="bid-1", X="CANCELED", x="CANCELED"))
    assert (await rig.client.delete("/fapi/v1/order", symbol="BTCUSDT", orderId=order_id)).json()[
        "code"
    ] == -2011
    missing = await rig.client.get("/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="never-sent")
    assert missing.json() == {"code": -2013, "msg": "Order does not exist."}


async def test_order_validation_codes(rig: Rig) -> None:
    bad_id = await rig.market("BUY", "0.010", "has spaces")
    assert bad_id.json()["code"] == -4015
    too_precise = await rig.market("BUY", "0.0101", "precise")
    assert too_precise.json()["code"] == -1111
    below_notional = await rig.market("BUY", "0.001", "tiny")
    assert below_notional.json()["code"] == -4164
    no_position = await rig.market("SELL", "0.010", "ro", reduceOnly="true")
    assert no_position.json()["code"] == -2022
    hedge = await rig.market("BUY", "0.010", "hedge", positionSide="LONG")
    assert hedge.json()["code"] == -4061
    last = await rig.last_price()
    far = await rig.client.post(
        "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002",
        price=f"{last * 1.2:.1f}",
    )  # fmt: skip
    assert far.json()["code"] == -4016
    post_only = await rig.client.post(
        "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.002",
        price=f"{last + 10:.1f}",
    )  # fmt: skip
    assert post_only.json()["code"] == -5022


async def test_batch_orders_answer_each_item_in_request_order(rig: Rig) -> None:
    items = [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.002",
            "newClientOrderId": "b-1",
        },
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "1000.0",
            "quantity": "0.002",
        },
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.050",
            "newClientOrderId": "b-3",
        },
    ]
    reply = await rig.client.post(
        "/fapi/v1/batchOrders", batchOrders=json.dumps(items, separators=(",", ":"))
    )
    assert reply.status_code == 200, reply.text
    first, second, third = reply.json()
    assert (first["clientOrderId"], third["clientOrderId"]) == ("b-1", "b-3")
    assert second["code"] == -4120
    assert reply.headers["X-MBX-ORDER-COUNT-10S"] == "5"
    six = await rig.client.post("/fapi/v1/batchOrders", batchOrders=json.dumps([items[0]] * 6))
    assert six.json()["code"] == -4082


async def test_account_endpoints_after_a_fill(rig: Rig) -> None:
    order = (await rig.market("BUY", "0.020", "entry-4", newOrderRespType="RESULT")).json()
    v2 = (await rig.client.get("/fapi/v2/positionRisk")).json()
    assert {p["symbol"] for p in v2} == {"BTCUSDT", "ETHUSDT"}  # v2 lists every symbol
    v3 = (await rig.client.get("/fapi/v3/positionRisk")).json()
    assert [(p["symbol"], p["positionAmt"]) for p in v3] == [("BTCUSDT", "0.020")]
    assert "leverage" not in v3[0] and "leverage" in v2[0]
    trades = (await rig.client.get("/fapi/v1/userTrades", symbol="BTCUSDT")).json()
    assert [(t["orderId"], t["qty"], t["side"], t["buyer"]) for t in trades] == [
        (order["orderId"], "0.020", "BUY", True)
    ]
    account = (await rig.client.get("/fapi/v3/account")).json()
    assert float(account["totalWalletBalance"]) < 10_000  # the taker fee was paid
    assert [p["symbol"] for p in account["positions"]] == ["BTCUSDT"]
    config = (await rig.client.get("/fapi/v1/accountConfig")).json()
    assert config["dualSidePosition"] is False
    assert (await rig.client.get("/fapi/v1/positionSide/dual")).json() == {"dualSidePosition": False}


async def test_leverage_and_margin_type(rig: Rig) -> None:
    leverage = await rig.client.post("/fapi/v1/leverage", symbol="ETHUSDT", leverage=12)
    assert leverage.json()["leverage"] == 12
    update = await rig.user.wait_for(lambda f: f.get("e") == "ACCOUNT_CONFIG_UPDATE")
    assert update["ac"] == {"s": "ETHUSDT", "l": 12}
    same = await rig.client.post("/fapi/v1/marginType", symbol="ETHUSDT", marginType="CROSSED")
    assert same.json() == {"code": -4046, "msg": "No need to change margin type."}
    changed = await rig.client.post("/fapi/v1/marginType", symbol="ETHUSDT", marginType="ISOLATED")
    assert changed.json() == {"code": 200, "msg": "success"}
    config = (await rig.client.get("/fapi/v1/symbolConfig", symbol="ETHUSDT")).json()
    assert (config[0]["marginType"], config[0]["leverage"]) == ("ISOLATED", 12)
