"""The sandbox with a large symbol set: N synthetic perpetuals everywhere a client looks, Binance's
per-connection stream limit enforced, and one connection dropped on request."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from sandbox_support import Frames

from casino_tui.clock import ManualClock
from casino_tui.exchange.sim.market import synthetic_symbols
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.sandbox.serve import add_arguments, served_symbols
from casino_tui.sandbox.venue import SandboxSettings

SYMBOLS = synthetic_symbols(40)
LIMIT = 6


def streams_of(*symbols: str) -> list[str]:
    return [f"{s.lower()}@{kind}" for s in symbols for kind in ("aggTrade", "markPrice@1s")]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    settings = SandboxSettings(max_streams_per_connection=LIMIT)
    async with running_sandbox(clock=ManualClock(), symbols=SYMBOLS, settings=settings) as server:
        yield server


def test_symbols_count_serves_the_majors_then_synthetic_perpetuals() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert served_symbols(parser.parse_args(["--symbols-count", "400"])) == synthetic_symbols(400)
    assert served_symbols(parser.parse_args([]))[:2] == ["BTCUSDT", "ETHUSDT"]
    with pytest.raises(ValueError, match="exclude each other"):
        served_symbols(parser.parse_args(["--symbols-count", "3", "--symbols", "BTCUSDT"]))
    with pytest.raises(ValueError, match="from 1 to"):
        served_symbols(parser.parse_args(["--symbols-count", "0"]))


async def test_every_symbol_is_listed_ticked_and_has_klines(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        info = (await http.get("/fapi/v1/exchangeInfo")).json()
        tickers = (await http.get("/fapi/v1/ticker/24hr")).json()
        klines = (await http.get("/fapi/v1/klines", params={"symbol": SYMBOLS[-1], "interval": "1m"})).json()
    listed = {s["symbol"]: s for s in info["symbols"]}
    assert set(listed) == set(SYMBOLS)
    assert {(s["status"], s["contractType"], s["quoteAsset"]) for s in listed.values()} == {
        ("TRADING", "PERPETUAL", "USDT")
    }
    assert {row["symbol"] for row in tickers} == set(SYMBOLS)
    assert all(float(row["quoteVolume"]) > 0 for row in tickers)
    assert len(klines) == 500


async def test_a_subscribe_over_the_stream_limit_is_refused_and_the_connection_kept(
    sandbox: SandboxServer,
) -> None:
    frames = Frames(await websockets.connect(f"{sandbox.ws_url}/market/stream"))
    await frames.ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams_of(*SYMBOLS[:3]), "id": 1}))
    assert (await frames.wait_for(lambda f: f.get("id") == 1)) == {"result": None, "id": 1}
    await frames.ws.send(f'{{"method":"SUBSCRIBE","params":["{SYMBOLS[3].lower()}@aggTrade"],"id":2}}')
    refused = await frames.wait_for(lambda f: f.get("id") == 2)
    assert refused["error"] == {"code": 2, "msg": f"Invalid request: too many streams (at most {LIMIT})"}
    await frames.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":3}')
    assert len((await frames.wait_for(lambda f: f.get("id") == 3))["result"]) == LIMIT
    await frames.aclose()


async def test_a_url_naming_more_streams_than_the_limit_is_refused_at_the_handshake(
    sandbox: SandboxServer,
) -> None:
    names = "/".join(streams_of(*SYMBOLS[:4]))
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{sandbox.ws_url}/market/stream?streams={names}")
    assert refused.value.response.status_code == 403
    within = "/".join(streams_of(*SYMBOLS[:3]))
    async with websockets.connect(f"{sandbox.ws_url}/market/stream?streams={within}"):
        assert (await sandbox.state()).streams_per_connection == [LIMIT]


async def test_drop_connection_closes_only_the_connection_carrying_the_stream(sandbox: SandboxServer) -> None:
    first = Frames(
        await websockets.connect(f"{sandbox.ws_url}/market/stream?streams={SYMBOLS[0].lower()}@aggTrade")
    )
    second = Frames(
        await websockets.connect(f"{sandbox.ws_url}/market/stream?streams={SYMBOLS[1].lower()}@aggTrade")
    )
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        answer = await http.post(
            "/__admin__/drop_connection", json={"stream": f"{SYMBOLS[1].lower()}@aggTrade"}
        )
        bad = await http.post("/__admin__/drop_connection", json={"stream": 5})
    assert answer.json() == {"dropped": 1}
    assert bad.status_code == 400
    await second.wait_closed()
    assert first.closed is None
    assert (await sandbox.state()).streams_per_connection == [1]
    await first.aclose()
