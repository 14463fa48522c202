"""Switchable faults of the sandbox, each as a client meets it over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from sandbox_support import API_KEY, DEADLINE_S, Frames, SignedClient, is_event, market_step

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer, SandboxSettings, running_sandbox

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


class Rig:
    def __init__(self, server: SandboxServer, clock: ManualClock, http: httpx.AsyncClient) -> None:
        self.server = server
        self.clock = clock
        self.http = http
        self.client = SignedClient(http, clock)

    async def faults(self, **patch: object) -> dict[str, object]:
        reply = await self.http.post("/__admin__/faults", json=patch)
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def state(self) -> dict[str, object]:
        return (await self.http.get("/__admin__/state")).json()

    async def market_buy(self, cid: str, qty: str = "0.010", **extra: str) -> httpx.Response:
        return await self.client.post(
            "/fapi/v1/order",
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity=qty,
            newClientOrderId=cid,
            **extra,
        )

    async def user_stream(self) -> tuple[str, Frames]:
        key = (await self.http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})).json()[
            "listenKey"
        ]
        return key, Frames(await websockets.connect(f"{self.server.ws_url}/private/ws/{key}"))


async def _rig(settings: SandboxSettings | None = None) -> AsyncIterator[Rig]:
    clock = ManualClock()
    async with running_sandbox(clock=clock, symbols=SYMBOLS, settings=settings) as server:
        server.sim.pump(clock.now_ms())
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            yield Rig(server, clock, http)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in _rig():
        yield r


async def poll(check: object, deadline_s: float = DEADLINE_S) -> None:
    """Wait until the coroutine function `check` returns True (bans and lifetimes run on wall time)."""

    async def run() -> None:
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.05)

    await asyncio.wait_for(run(), deadline_s)


async def test_rate_limit_storm_answers_429_then_bans_with_418(rig: Rig) -> None:
    await rig.faults(rate_limit_storm={"requests": 5, "ban_after": 2, "ban_s": 0.5})
    first = await rig.http.get("/fapi/v1/time")
    second = await rig.http.get("/fapi/v1/time")
    for reply in (first, second):
        assert reply.status_code == 429
        assert reply.json()["code"] == -1003 and "Too many requests" in reply.json()["msg"]
        assert int(reply.headers["Retry-After"]) >= 1
    banned = await rig.http.get("/fapi/v1/time")
    assert banned.status_code == 418
    assert banned.json()["code"] == -1003 and "banned until" in banned.json()["msg"]
    assert int(banned.headers["Retry-After"]) >= 1
    assert (await rig.http.get("/fapi/v1/ping")).status_code == 418  # every endpoint while banned

    async def lifted() -> bool:
        return (await rig.http.get("/fapi/v1/ping")).status_code == 200

    await poll(lifted)


async def test_weight_over_2400_a_minute_gives_429_and_persisting_gives_418() -> None:
    async for rig in _rig(SandboxSettings(requests_before_ban=1, ban_s=60)):
        statuses = []
        for _ in range(70):  # GET /fapi/v1/openOrders without a symbol weighs 40: 60 of them fill the minute
            reply = await rig.client.get("/fapi/v1/openOrders")
            statuses.append(reply.status_code)
            if reply.status_code != 200:
                break
        assert statuses.count(200) == 60
        assert statuses[-1] == 429 and reply.json()["code"] == -1003
        assert int(reply.headers["X-MBX-USED-WEIGHT-1M"]) == 2400
        assert (await rig.http.get("/fapi/v1/ping")).status_code == 418


async def test_unknown_outcome_places_the_order_but_answers_503(rig: Rig) -> None:
    _, user = await rig.user_stream()
    status = await rig.faults(unknown_outcome={"count": 1})
    assert status["unknown_outcome_left"] == 1
    reply = await rig.market_buy("uo-1")
    assert reply.status_code == 503
    assert reply.json()["msg"] == "Unknown error, please check your request or try again later."
    await user.wait_for(is_event("ORDER_TRADE_UPDATE", c="uo-1", X="FILLED"))
    queried = await rig.client.get("/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="uo-1")
    assert queried.json()["status"] == "FILLED"
    state = await rig.state()
    assert state["orders_placed"] == {"uo-1": 1} and state["orders_received"] == {"uo-1": 1}
    assert (await rig.market_buy("uo-2")).status_code == 200  # the fault was for one request
    await user.aclose()


async def test_unknown_outcome_as_timeout_1007_also_places_the_order(rig: Rig) -> None:
    await rig.faults(unknown_outcome={"count": 1, "reply": "-1007"})
    reply = await rig.client.post(
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        triggerPrice="1000.0",
        closePosition="true",
        clientAlgoId="sl-uo",
    )
    assert reply.status_code == 408 and reply.json()["code"] == -1007
    queried = await rig.client.get("/fapi/v1/algoOrder", clientAlgoId="sl-uo")
    assert queried.json()["algoStatus"] == "NEW"


async def test_service_unavailable_does_not_place_the_order(rig: Rig) -> None:
    await rig.faults(service_unavailable=1)
    reply = await rig.market_buy("su-1")
    assert reply.status_code == 503 and reply.json()["msg"] == "Service Unavailable."
    missing = await rig.client.get("/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="su-1")
    assert missing.json()["code"] == -2013
    assert (await rig.state())["orders_placed"] == {}


async def test_throttle_refuses_new_exposure_but_lets_reduce_only_through(rig: Rig) -> None:
    assert (await rig.market_buy("pos-1")).status_code == 200
    await rig.faults(throttle=1)
    reduce = await rig.client.post(
        "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.005", reduceOnly="true"
    )
    assert reduce.status_code == 200, reduce.text
    more = await rig.market_buy("pos-2")
    assert more.status_code == 503 and more.json()["code"] == -1008


async def test_clock_skew_gives_1021_until_the_client_resyncs(rig: Rig) -> None:
    await rig.faults(clock_skew_ms=30_000)
    stale = await rig.client.get("/fapi/v2/balance")
    assert stale.json()["code"] == -1021
    server_time = (await rig.http.get("/fapi/v1/time")).json()["serverTime"]
    rig.client.time_offset_ms = server_time - rig.clock.now_ms()
    assert rig.client.time_offset_ms == 30_000
    assert (await rig.client.get("/fapi/v2/balance")).status_code == 200


async def test_drop_sockets_closes_every_websocket(rig: Rig) -> None:
    _, user = await rig.user_stream()
    market = Frames(await websockets.connect(f"{rig.server.ws_url}/market/stream?streams=btcusdt@aggTrade"))
    await rig.faults(drop_sockets=True)
    for frames in (user, market):
        assert await frames.wait_closed() == 1001
    assert (await rig.state())["connections"] == 0


async def test_silent_sockets_stay_open_but_send_nothing(rig: Rig) -> None:
    market = Frames(await websockets.connect(f"{rig.server.ws_url}/market/ws/btcusdt@aggTrade"))
    await rig.faults(silent_sockets=True)
    rig.clock.advance(5_000)
    rig.server.sim.pump()  # these trades happen while the sockets are silent
    silent_until = rig.clock.now_ms()
    await rig.faults(silent_sockets=False)
    step = market_step(rig.server, rig.clock)
    await market.wait_for(lambda f: f.get("e") == "aggTrade", advance=step)
    assert all(f["T"] > silent_until for f in market.items)
    assert market.closed is None
    await market.aclose()


async def test_expired_listen_key_streams_expiry_then_nothing_and_put_gives_1125(rig: Rig) -> None:
    key, user = await rig.user_stream()
    await rig.faults(expire_listen_key=True)
    expired = await user.wait_for(lambda f: f.get("e") == "listenKeyExpired")
    assert expired["listenKey"] == key and isinstance(expired["E"], int)
    kept = await rig.http.put(f"/fapi/v1/listenKey?listenKey={key}", headers={"X-MBX-APIKEY": API_KEY})
    assert kept.json() == {"code": -1125, "msg": "This listenKey does not exist."}
    fresh_key, fresh = await rig.user_stream()
    assert fresh_key != key
    await rig.market_buy("after-expiry")
    await fresh.wait_for(is_event("ORDER_TRADE_UPDATE", c="after-expiry", X="FILLED"))
    assert [f["e"] for f in user.items] == ["listenKeyExpired"]
    await user.aclose()
    await fresh.aclose()


async def test_listen_key_expires_by_itself_without_keepalive() -> None:
    async for rig in _rig(SandboxSettings(listen_key_lifetime_s=0.3)):
        key, user = await rig.user_stream()
        expired = await user.wait_for(lambda f: f.get("e") == "listenKeyExpired")
        assert expired["listenKey"] == key
        await user.aclose()


async def test_more_than_ten_messages_a_second_closes_the_connection(rig: Rig) -> None:
    market = Frames(await websockets.connect(f"{rig.server.ws_url}/market/ws/0"))
    for i in range(11):
        await market.ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
    assert await market.wait_closed() == 1008


async def test_injected_position_is_reported_and_announced(rig: Rig) -> None:
    _, user = await rig.user_stream()
    reply = await rig.http.post(
        "/__admin__/inject_position",
        json={"symbol": "ETHUSDT", "qty": -0.5, "entry_price": 3400.0, "notify": True},
    )
    assert reply.status_code == 200, reply.text
    update = await user.wait_for(lambda f: f.get("e") == "ACCOUNT_UPDATE")
    assert update["a"]["m"] == "ADJUSTMENT" and update["a"]["P"][0]["pa"] == "-0.500"
    risk = (await rig.client.get("/fapi/v3/positionRisk")).json()
    assert [(p["symbol"], p["positionAmt"]) for p in risk] == [("ETHUSDT", "-0.500")]
    await user.aclose()


async def test_fault_status_reflects_the_patch_and_rejects_unknown_fields(rig: Rig) -> None:
    status = await rig.faults(slow_ms=5, clock_skew_ms=-200)
    assert (status["slow_ms"], status["clock_skew_ms"]) == (5, -200)
    assert (await rig.http.get("/__admin__/faults")).json() == status
    bad = await rig.http.post("/__admin__/faults", json={"no_such_fault": 1})
    assert bad.status_code == 400
