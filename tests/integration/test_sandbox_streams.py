"""Market and user WebSocket streams of the sandbox: URLs, wrappers, payload keys, live subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
import websockets
from sandbox_support import API_KEY, Frames, SignedClient, is_event, market_step

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer, running_sandbox


class AggTrade(msgspec.Struct):
    e: str
    E: int
    s: str
    a: int
    p: str
    q: str
    nq: str
    f: int
    l: int  # noqa: E741 (Binance's key)
    T: int
    m: bool


class Combined(msgspec.Struct):
    stream: str
    data: AggTrade


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[SandboxServer, ManualClock]]:
    clock = ManualClock()
    async with running_sandbox(clock=clock, symbols=["BTCUSDT", "ETHUSDT"]) as server:
        yield server, clock


async def test_combined_stream_aggtrade_frames_decode(sandbox: tuple[SandboxServer, ManualClock]) -> None:
    server, clock = sandbox
    url = f"{server.ws_url}/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
    frames = Frames(await websockets.connect(url))
    await frames.wait_for(lambda f: f["data"]["s"] == "ETHUSDT", advance=market_step(server, clock))
    await frames.wait_for(lambda f: f["data"]["s"] == "BTCUSDT", advance=market_step(server, clock))
    decoded = [msgspec.convert(f, Combined) for f in frames.items]
    for frame in decoded:
        assert frame.stream == f"{frame.data.s.lower()}@aggTrade"
        assert frame.data.e == "aggTrade" and float(frame.data.p) > 0 and float(frame.data.q) > 0
        assert frame.data.f == frame.data.l == frame.data.a
    btc = [f.data for f in decoded if f.data.s == "BTCUSDT"]
    assert [t.a for t in btc] == list(range(btc[0].a, btc[0].a + len(btc)))  # ids per symbol, no gaps
    assert [t.T for t in btc] == sorted(t.T for t in btc)
    await frames.aclose()


async def test_raw_stream_path_names_streams_and_sends_bare_payloads(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, clock = sandbox
    frames = Frames(await websockets.connect(f"{server.ws_url}/market/ws/btcusdt@trade/btcusdt@markPrice@1s"))
    mark = await frames.wait_for(
        lambda f: f.get("e") == "markPriceUpdate", advance=market_step(server, clock)
    )
    assert set(mark) == {"e", "E", "s", "p", "ap", "i", "P", "r", "T"} and mark["s"] == "BTCUSDT"
    trade = await frames.wait_for(lambda f: f.get("e") == "trade", advance=market_step(server, clock))
    assert set(trade) == {"e", "E", "T", "s", "t", "p", "q", "X", "m"} and trade["X"] == "MARKET"
    await frames.aclose()


async def test_live_subscribe_list_and_unsubscribe_on_a_ccxt_style_url(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, clock = sandbox
    frames = Frames(await websockets.connect(f"{server.ws_url}/public/ws/0"))
    await frames.ws.send('{"method":"SUBSCRIBE","params":["btcusdt@bookTicker","ethusdt@kline_1m"],"id":1}')
    assert await frames.wait_for(lambda f: f.get("id") == 1) == {"result": None, "id": 1}
    await frames.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":2}')
    listed = await frames.wait_for(lambda f: f.get("id") == 2)
    assert listed == {"result": ["btcusdt@bookTicker", "ethusdt@kline_1m"], "id": 2}
    book = await frames.wait_for(lambda f: f.get("e") == "bookTicker", advance=market_step(server, clock))
    assert float(book["b"]) < float(book["a"]) and {"u", "E", "T", "s", "B", "A"} <= set(book)
    await frames.ws.send('{"method":"UNSUBSCRIBE","params":["btcusdt@bookTicker"],"id":3}')
    assert await frames.wait_for(lambda f: f.get("id") == 3) == {"result": None, "id": 3}
    await frames.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":4}')
    assert (await frames.wait_for(lambda f: f.get("id") == 4))["result"] == ["ethusdt@kline_1m"]
    await frames.aclose()


async def test_request_errors_use_binance_codes_inside_an_error_object(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, _ = sandbox
    frames = Frames(await websockets.connect(f"{server.ws_url}/market/ws/0"))
    requests = {
        '{"method":"SET_PROPERTY","params":["nonsense",true],"id":10}': 0,
        '{"method":"SET_PROPERTY","params":["combined","yes"],"id":11}': 1,
        '{"method":"FETCH","params":[],"id":12}': 2,
        '{"method":"LIST_SUBSCRIPTIONS","id":-1}': 2,
        '{"method":"LIST_SUBSCRIPTIONS","id":true}': 2,
        '{"method":"SUBSCRIBE","params":["nosuch@aggTrade"],"id":13}': 2,
        "{not json": 3,
    }
    for text in requests:
        await frames.ws.send(text)
    await frames.wait_for(lambda f: f.get("error", {}).get("code") == 3)
    assert [f["error"]["code"] for f in frames.items] == list(requests.values())
    assert frames.items[0] == {"error": {"code": 0, "msg": "Unknown property"}, "id": 10}
    await frames.ws.send('{"method":"GET_PROPERTY","params":["combined"],"id":14}')
    assert (await frames.wait_for(lambda f: f.get("id") == 14))["result"] is False
    await frames.aclose()


async def test_string_request_ids_are_accepted_and_echoed(sandbox: tuple[SandboxServer, ManualClock]) -> None:
    server, _ = sandbox
    frames = Frames(await websockets.connect(f"{server.ws_url}/market/stream"))
    request_id = "0b6f9a3e-4c55-4d8c-9a51-53f0f8a0c2d1"
    await frames.ws.send(f'{{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":"{request_id}"}}')
    assert await frames.wait_for(lambda f: f.get("id") == request_id) == {"result": None, "id": request_id}
    await frames.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":"list-1"}')
    assert await frames.wait_for(lambda f: f.get("id") == "list-1") == {
        "result": ["btcusdt@aggTrade"],
        "id": "list-1",
    }
    await frames.ws.send(f'{{"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":"{request_id}-u"}}')
    assert (await frames.wait_for(lambda f: f.get("id") == f"{request_id}-u"))["result"] is None
    await frames.aclose()


async def test_kline_stream_updates_then_closes_each_candle(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, clock = sandbox
    frames = Frames(await websockets.connect(f"{server.ws_url}/market/stream?streams=btcusdt@kline_1m"))
    closed = await frames.wait_for(lambda f: f["data"]["k"]["x"] is True, advance=market_step(server, clock))
    k = closed["data"]["k"]
    assert closed["stream"] == "btcusdt@kline_1m" and closed["data"]["e"] == "kline"
    assert (k["s"], k["i"], k["T"] - k["t"]) == ("BTCUSDT", "1m", 59_999)
    assert float(k["l"]) <= float(k["o"]) <= float(k["h"]) and k["n"] > 0 and k["L"] >= k["f"]
    updates = [f["data"]["k"] for f in frames.items if f["data"]["k"]["t"] == k["t"]]
    assert all(u["x"] is False for u in updates[:-1])
    await frames.aclose()


async def test_user_stream_on_legacy_and_combined_private_urls(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, clock = sandbox
    server.sim.pump(clock.now_ms())
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        key = (await http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})).json()["listenKey"]
        legacy = Frames(await websockets.connect(f"{server.ws_url}/ws/{key}"))
        combined = Frames(await websockets.connect(f"{server.ws_url}/private/stream?listenKey={key}"))
        client = SignedClient(http, clock)
        reply = await client.post(
            "/fapi/v1/order", symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.050"
        )
        assert reply.status_code == 200, reply.text
        await legacy.wait_for(is_event("ORDER_TRADE_UPDATE", X="FILLED"))
        wrapped = await combined.wait_for(lambda f: f["data"]["e"] == "ACCOUNT_UPDATE")
        assert wrapped["stream"] == key
        await legacy.aclose()
        await combined.aclose()


async def test_unknown_listen_key_is_refused_at_the_handshake(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, _ = sandbox
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{server.ws_url}/private/ws?listenKey=not-a-key")
    assert refused.value.response.status_code == 403


async def test_bare_private_route_carries_the_listen_keys_it_subscribes(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, clock = sandbox
    server.sim.pump(clock.now_ms())
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        key = (await http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})).json()["listenKey"]
        frames = Frames(await websockets.connect(f"{server.ws_url}/private/stream"))
        await frames.ws.send(f'{{"method":"SUBSCRIBE","params":["{key}"],"id":"sub"}}')
        assert await frames.wait_for(lambda f: f.get("id") == "sub") == {"result": None, "id": "sub"}
        await frames.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":"list"}')
        assert (await frames.wait_for(lambda f: f.get("id") == "list"))["result"] == [key]
        client = SignedClient(http, clock)
        reply = await client.post(
            "/fapi/v1/order", symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.050"
        )
        assert reply.status_code == 200, reply.text
        filled = await frames.wait_for(lambda f: f.get("data", {}).get("e") == "ORDER_TRADE_UPDATE")
        assert filled["stream"] == key and filled["data"]["o"]["s"] == "ETHUSDT"
        await frames.ws.send('{"method":"SUBSCRIBE","params":["not-a-listen-key"],"id":"bad"}')
        refused = await frames.wait_for(lambda f: f.get("id") == "bad")
        assert refused["error"]["code"] == 2
        await frames.ws.send(f'{{"method":"UNSUBSCRIBE","params":["{key}"],"id":"unsub"}}')
        await frames.wait_for(lambda f: f.get("id") == "unsub")
        await frames.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":"list-2"}')
        assert (await frames.wait_for(lambda f: f.get("id") == "list-2"))["result"] == []
        await frames.aclose()


async def test_all_market_streams_send_every_symbol(sandbox: tuple[SandboxServer, ManualClock]) -> None:
    server, clock = sandbox
    names = "!markPrice@arr@1s/!ticker@arr/!miniTicker@arr/!bookTicker"
    frames = Frames(await websockets.connect(f"{server.ws_url}/market/stream?streams={names}"))
    step = market_step(server, clock)

    def symbols_in(stream: str) -> set[str]:
        data = [f["data"] for f in frames.items if f["stream"] == stream]
        return {row["s"] for d in data for row in (d if isinstance(d, list) else [d])}

    for stream in names.split("/"):
        await frames.wait_for(lambda _f, s=stream: symbols_in(s) == {"BTCUSDT", "ETHUSDT"}, advance=step)
    marks = next(f["data"] for f in frames.items if f["stream"] == "!markPrice@arr@1s")
    assert {m["e"] for m in marks} == {"markPriceUpdate"}
    tickers = next(f["data"] for f in frames.items if f["stream"] == "!ticker@arr")
    assert {t["e"] for t in tickers} == {"24hrTicker"} and all(t["C"] - t["O"] == 86_400_000 for t in tickers)
    await frames.aclose()


async def test_continuous_kline_names_pair_and_contract_type(
    sandbox: tuple[SandboxServer, ManualClock],
) -> None:
    server, clock = sandbox
    frames = Frames(
        await websockets.connect(f"{server.ws_url}/market/ws/btcusdt_perpetual@continuousKline_1m")
    )
    kline = await frames.wait_for(
        lambda f: f.get("e") == "continuous_kline", advance=market_step(server, clock)
    )
    assert (kline["ps"], kline["ct"], kline["k"]["i"]) == ("BTCUSDT", "PERPETUAL", "1m") and "s" not in kline[
        "k"
    ]
    await frames.ws.send(
        '{"method":"SUBSCRIBE","params":["btcusdt_current_quarter@continuousKline_1m"],"id":1}'
    )
    assert (await frames.wait_for(lambda f: f.get("id") == 1))["error"]["code"] == 2  # only perpetuals listed
    await frames.aclose()
