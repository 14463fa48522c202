"""One retry layer over real sockets: a 503 storm never sends one order more than `MAX_SENDS_PER_ORDER`.

The engine's OrderExecutor (and the Croupier above it) talk to the real Binance connector, which talks to
the sandbox over loopback. Faults are switched on through the sandbox's `/__admin__/faults` route and the
sends are counted server-side, per client order id, from `/__admin__/state` (`orders_received`).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
from connector_support import SYMBOLS, Recorder, exchange_for

from casino_tui.config import TradingConfig
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.executor import OrderExecutor
from casino_tui.engine.retries import MAX_SENDS_PER_ORDER
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.binance.errors import ClockSkewError
from casino_tui.model import BracketState, Decision, OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from casino_tui.port import RetriableError
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.sandbox.admin import SandboxState

QTY = 0.002
STORM = {"service_unavailable": 10_000}  # every order POST answers 503 "Service Unavailable." (not placed)
UNKNOWN_STORM = {"unknown_outcome": {"count": 10_000, "reply": "503"}}  # placed, but answered "unknown"
CALM = {"service_unavailable": 0, "unknown_outcome": None}


class Admin:
    """The sandbox's admin routes, over the same loopback HTTP a person would use."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self._http = httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False)

    async def faults(self, patch: dict[str, Any]) -> None:
        response = await self._http.post("/__admin__/faults", content=msgspec.json.encode(patch))
        assert response.status_code == 200, response.text

    async def received(self) -> dict[str, int]:
        """Order POSTs the sandbox's order handlers saw, by client order id."""
        response = await self._http.get("/__admin__/state")
        return msgspec.json.decode(response.content, type=SandboxState).orders_received

    async def aclose(self) -> None:
        await self._http.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's real transport, counting requests by (method, path); `after` runs once each answer is in."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: collections.Counter[tuple[str, str]] = collections.Counter()
        self.after: Callable[[httpx.Request], None] = lambda _request: None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.sent[(request.method, request.url.path)] += 1
        self.after(request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextlib.asynccontextmanager
async def venue(
    user_sink: Any = None, **options: Any
) -> AsyncIterator[tuple[SandboxServer, BinanceExchange, Admin]]:
    """A sandbox, a started connector (its user events to `user_sink`) and the admin client."""
    async with running_sandbox(symbols=SYMBOLS, seed=7) as sandbox:
        exchange = exchange_for(sandbox, sandbox.clock, **options)
        recorder = Recorder()
        exchange.set_sinks(recorder, user_sink or recorder)
        admin = Admin(sandbox)
        try:
            await exchange.start(SYMBOLS)
            yield sandbox, exchange, admin
        finally:
            await admin.aclose()
            await exchange.stop()


def fast_executor(sandbox: SandboxServer, exchange: BinanceExchange, journal: Any = None) -> OrderExecutor:
    return OrderExecutor(exchange, sandbox.clock, journal, backoff_s=0.01, max_backoff_s=0.05)


def entry(cid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, QTY, cid)


def stop_loss(cid: str, last: float) -> OrderRequest:
    return OrderRequest(
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        QTY,
        cid,
        close_position=True,
        trigger_price=last * 0.9,
    )


def reduce_only_close(cid: str, _last: float) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, QTY, cid, reduce_only=True)


# -- a 503 storm ---------------------------------------------------------------------------------------------


async def test_a_503_storm_sends_an_entry_no_more_than_the_maximum() -> None:
    async with venue() as (sandbox, exchange, admin):
        await admin.faults(STORM)
        with pytest.raises(RetriableError):
            await fast_executor(sandbox, exchange).place(entry("storm-e"))
        assert (await admin.received())["storm-e"] == MAX_SENDS_PER_ORDER


@pytest.mark.parametrize("protective", [stop_loss, reduce_only_close], ids=["stop-loss", "reduce-only-close"])
async def test_a_503_storm_sends_a_protective_order_no_more_than_the_maximum(protective) -> None:
    async with venue() as (sandbox, exchange, admin):
        executor = fast_executor(sandbox, exchange)
        await executor.place(entry("storm-p-e"))
        last = (await exchange.tickers())["BTCUSDT"]
        await admin.faults(STORM)
        with pytest.raises(RetriableError):
            await executor.place(protective("storm-p", last))
        # Protective orders bypass the orders breaker, so only the retry layer's limit holds them back.
        assert (await admin.received())["storm-p"] == MAX_SENDS_PER_ORDER


async def test_a_503_storm_during_protection_sends_no_client_id_more_than_the_maximum() -> None:
    class StormFromTheStopLoss:
        """A journal that switches the storm on as the stop-loss intent is written, before its first send."""

        def __init__(self) -> None:
            self.admin: Admin | None = None

        async def record_intent(self, request: OrderRequest) -> None:
            if request.type is OrderType.STOP_MARKET and self.admin is not None:
                await self.admin.faults(STORM)

        def record_ack(self, update: OrderUpdate) -> None:
            return None

    journal = StormFromTheStopLoss()
    croupier: Croupier | None = None

    class Sink:
        def on_order_update(self, update: OrderUpdate) -> None:
            if croupier is not None:
                croupier.on_order_update(update)

        def on_account_update(self, update: Any) -> None:
            if croupier is not None:
                croupier.on_account_update(update)

    async with venue(Sink()) as (sandbox, exchange, admin):
        journal.admin = admin
        rules = await exchange.symbol_rules()
        config = TradingConfig(notional_usdt=200.0, max_positions=4)
        croupier = Croupier(
            exchange,
            rules,
            config,
            sandbox.clock,
            journal,
            executor=fast_executor(sandbox, exchange, journal),
        )
        last = (await exchange.tickers())["BTCUSDT"]
        bracket = await croupier.open_bracket(Decision("BTCUSDT", Side.BUY, 0.5, 0), last)
        await croupier.wait_idle()
        received = await admin.received()
        await admin.faults(CALM)

    assert bracket is not None and bracket.state is not BracketState.PROTECTED
    assert received[bracket.entry_client_id] == 1
    assert received[bracket.sl_client_id] == MAX_SENDS_PER_ORDER
    closes = {
        cid: n for cid, n in received.items() if cid not in (bracket.entry_client_id, bracket.sl_client_id)
    }
    assert closes, "no close order was tried for the unprotected position"
    assert set(closes.values()) == {MAX_SENDS_PER_ORDER}, f"a close order went out too often: {closes}"


# -- unknown outcomes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [lambda cid, _last: entry(cid), stop_loss], ids=["entry", "stop-loss"])
async def test_an_unknown_outcome_storm_sends_each_order_once_and_finds_it_by_client_id(kind) -> None:
    async with venue() as (sandbox, exchange, admin):
        executor = fast_executor(sandbox, exchange)
        await executor.place(entry("uo-base"))
        last = (await exchange.tickers())["BTCUSDT"]
        await admin.faults(UNKNOWN_STORM)
        update = await executor.place(kind("uo-storm", last))
        assert update.client_id == "uo-storm"
        assert update.status in (OrderStatus.NEW, OrderStatus.FILLED)
        assert (await admin.received())["uo-storm"] == 1, "an order of unknown outcome was sent again"
        assert executor.unknown_outcomes == 1


# -- the one resend below the retry layer: -1021 -------------------------------------------------------------


async def test_clock_skew_is_resynced_and_the_order_sent_once_more() -> None:
    transport = CountingTransport()
    async with venue(transport=transport) as (sandbox, exchange, admin):
        await admin.faults({"clock_skew_ms": 30_000})
        before = transport.sent.copy()
        ack = await exchange.place_order(entry("skew-1"))
        sent = transport.sent - before
        assert ack.status is OrderStatus.FILLED
        assert sent[("POST", "/fapi/v1/order")] == 2, "refused once with -1021, then accepted"
        assert sent[("GET", "/fapi/v1/time")] == 1
        assert (await admin.received())["skew-1"] == 1


async def test_a_second_clock_skew_refusal_is_raised_not_chased() -> None:
    transport = CountingTransport()
    async with venue(transport=transport) as (sandbox, exchange, admin):
        skew = 30_000
        await admin.faults({"clock_skew_ms": skew})

        def server_clock_jumps_again(request: httpx.Request) -> None:
            nonlocal skew
            if request.url.path == "/fapi/v1/time":
                skew += 30_000
                sandbox.set_faults({"clock_skew_ms": skew})

        transport.after = server_clock_jumps_again
        before = transport.sent.copy()
        with pytest.raises(ClockSkewError):
            await exchange.place_order(entry("skew-2"))
        sent = transport.sent - before
        assert sent[("POST", "/fapi/v1/order")] == 2 and sent[("GET", "/fapi/v1/time")] == 1
        assert "skew-2" not in await admin.received()
