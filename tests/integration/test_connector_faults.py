"""The connector under the sandbox's faults: unknown outcomes, 5xx, throttling, 429/418, clock skew, bad keys.

These run on the sandbox's real-time clock (rate-limit back-offs are real seconds, kept short by the faults).
"""

from __future__ import annotations

import logging
import re

import pytest
from connector_support import API_KEY, API_SECRET, connected, exchange_for, wait_for

from casino_tui.exchange.binance.rest import EndpointGroup
from casino_tui.model import OrderRequest, OrderStatus, OrderType, Side
from casino_tui.port import (
    AuthError,
    BreakerOpenError,
    RateLimitedError,
    RetriableError,
    UnknownOutcomeError,
)
from casino_tui.sandbox import running_sandbox

QTY = 0.002
SIGNATURE = re.compile(r"signature=[0-9a-f]{64}")


def _entry(client_id: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, QTY, client_id)


@pytest.mark.parametrize("reply", ["503", "-1007"])
async def test_unknown_outcome_raises_and_the_order_is_not_sent_twice(reply: str) -> None:
    async with connected() as (sandbox, exchange, rec):
        sandbox.set_faults({"unknown_outcome": {"count": 1, "reply": reply}})
        with pytest.raises(UnknownOutcomeError):
            await exchange.place_order(_entry(f"uo-{reply}"))
        state = await sandbox.state()
        assert state.orders_received.get(f"uo-{reply}") == 1, (
            "the connector resent an order of unknown outcome"
        )
        assert state.orders_placed.get(f"uo-{reply}") == 1
        # The caller's way out: look it up by client id.
        found = await exchange.get_order("BTCUSDT", f"uo-{reply}", conditional=False)
        assert found is not None and found.status is OrderStatus.FILLED
        await wait_for(lambda: rec.order(f"uo-{reply}", "FILLED"), "the fill on the user stream")


async def test_unknown_outcome_on_a_conditional_order_is_not_resent_either() -> None:
    async with connected() as (sandbox, exchange, rec):
        await exchange.place_order(_entry("uoc-e"))
        last = (await exchange.tickers())["BTCUSDT"]
        sandbox.set_faults({"unknown_outcome": {"count": 1, "reply": "503"}})
        stop = OrderRequest(
            "BTCUSDT",
            Side.SELL,
            OrderType.STOP_MARKET,
            QTY,
            "uoc-sl",
            reduce_only=True,
            trigger_price=last * 0.9,
        )
        with pytest.raises(UnknownOutcomeError):
            await exchange.place_order(stop)
        assert (await sandbox.state()).orders_received.get("uoc-sl") == 1
        found = await exchange.get_order("BTCUSDT", "uoc-sl", conditional=True)
        assert found is not None and found.is_conditional and found.status is OrderStatus.NEW


async def test_service_unavailable_is_a_definite_failure_that_the_connector_sends_once() -> None:
    async with connected() as (sandbox, exchange, _rec):
        sandbox.set_faults({"service_unavailable": 1})
        with pytest.raises(RetriableError) as info:
            await exchange.place_order(_entry("su-1"))
        assert not isinstance(info.value, UnknownOutcomeError)
        state = await sandbox.state()
        assert state.orders_received.get("su-1") == 1, "the transport repeated a request by itself"
        assert "su-1" not in state.orders_placed
        # Repeating it is the engine's retry layer's decision (tests/integration/test_retry_layer.py).
        assert (await exchange.place_order(_entry("su-1"))).status is OrderStatus.FILLED


async def test_throttled_entry_is_a_definite_failure_and_reduce_only_is_exempt() -> None:
    async with connected() as (sandbox, exchange, _rec):
        await exchange.place_order(_entry("th-e"))
        sandbox.set_faults({"throttle": 1})
        close = OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, QTY, "th-close", reduce_only=True)
        assert (await exchange.place_order(close)).status is OrderStatus.FILLED
        assert (await sandbox.state()).orders_received.get("th-close") == 1  # exempt from -1008
        with pytest.raises(RetriableError) as info:
            await exchange.place_order(_entry("th-2"))
        assert info.value.code == -1008
        assert (await sandbox.state()).orders_received.get("th-2") == 1


async def test_open_orders_breaker_blocks_entries_but_not_protection() -> None:
    async with connected() as (sandbox, exchange, _rec):
        await exchange.place_order(_entry("br-e"))
        last = (await exchange.tickers())["BTCUSDT"]
        stop = await exchange.place_order(
            OrderRequest(
                "BTCUSDT",
                Side.SELL,
                OrderType.STOP_MARKET,
                QTY,
                "br-sl",
                reduce_only=True,
                trigger_price=last * 0.9,
            )
        )
        # Five entries, each sent once and refused: five consecutive failures open the breaker.
        sandbox.set_faults({"service_unavailable": 5})
        for n in range(5):
            with pytest.raises(RetriableError):
                await exchange.place_order(_entry(f"br-f{n}"))
        received = (await sandbox.state()).orders_received
        assert [received.get(f"br-f{n}") for n in range(5)] == [1] * 5
        assert exchange.breakers[EndpointGroup.ORDERS].is_open
        with pytest.raises(BreakerOpenError):
            await exchange.place_order(_entry("br-blocked"))
        assert "br-blocked" not in (await sandbox.state()).orders_received
        cancelled = await exchange.cancel_order("BTCUSDT", stop.client_id, conditional=True)
        assert cancelled.status is OrderStatus.CANCELED
        close = OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, QTY, "br-close", reduce_only=True)
        assert (await exchange.place_order(close)).status is OrderStatus.FILLED
        health = {b.name: b for b in exchange.health().breakers}
        assert health["orders"].state == "OPEN" and health["orders"].failures >= 5


async def test_429_backs_the_group_off_to_retry_after_then_succeeds() -> None:
    async with connected() as (sandbox, exchange, _rec):
        sandbox.set_faults({"rate_limit_storm": {"requests": 1, "ban_after": 5, "ban_s": 5}})
        with pytest.raises(RateLimitedError) as info:
            await exchange.server_time_ms()
        assert not info.value.banned and info.value.retry_after_s == pytest.approx(1.0, abs=0.2)
        assert exchange.limiter.blocked_for_s("market") > 0
        assert exchange.limiter.blocked_for_s("account") == 0
        # The next market-data call waits out the back-off instead of hammering, then goes through.
        assert await exchange.server_time_ms() > 0
        assert exchange.limiter.blocked_for_s("market") == 0


async def test_418_stops_the_group_until_the_ban_ends() -> None:
    async with connected() as (sandbox, exchange, _rec):
        sandbox.set_faults({"rate_limit_storm": {"requests": 5, "ban_after": 1, "ban_s": 2}})
        with pytest.raises(RateLimitedError):
            await exchange.server_time_ms()  # 429
        with pytest.raises(RateLimitedError) as info:
            await exchange.server_time_ms()  # sent after the back-off, still limited: 418 ban
        assert info.value.banned and 1.0 <= info.value.retry_after_s <= 3.0
        assert exchange.limiter.is_banned("market")
        weight = exchange.limiter.used_weight
        with pytest.raises((BreakerOpenError, RateLimitedError)):
            await exchange.klines("BTCUSDT", "1m", 5)
        assert exchange.limiter.used_weight == weight, "a request went out during the ban"
        await wait_for(lambda: not exchange.limiter.is_banned("market"), "the ban to end")
        await wait_for(
            lambda: not exchange.breakers[EndpointGroup.MARKET].is_open, "the breaker to half-open"
        )
        assert len(await exchange.klines("BTCUSDT", "1m", 5)) == 5


async def test_clock_skew_resyncs_and_the_request_succeeds() -> None:
    async with connected() as (sandbox, exchange, _rec):
        sandbox.set_faults({"clock_skew_ms": 30_000})
        ack = await exchange.place_order(_entry("skew-1"))
        assert ack.status is OrderStatus.FILLED
        assert (await sandbox.state()).orders_placed.get("skew-1") == 1
        assert exchange._rest.time_offset_ms > 25_000
        assert (await exchange.balance()).asset == "USDT"


async def test_bad_api_key_fails_start_with_one_clear_message() -> None:
    async with running_sandbox(symbols=["BTCUSDT"], seed=7) as sandbox:
        exchange = exchange_for(sandbox, sandbox.clock, key="not-the-sandbox-key", secret=API_SECRET)
        try:
            with pytest.raises(AuthError) as info:
                await exchange.start(["BTCUSDT"])
        finally:
            await exchange.stop()
    message = str(info.value)
    assert "API key rejected" in message and "\n" not in message
    assert API_SECRET not in message and "not-the-sandbox-key" not in message


async def test_secrets_signatures_and_listen_keys_never_reach_errors_or_logs(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_sandbox(symbols=["BTCUSDT"], seed=7) as sandbox:
        good = exchange_for(sandbox, sandbox.clock)
        bad_secret = exchange_for(sandbox, sandbox.clock, secret="wrong-secret-value")
        try:
            await good.start(["BTCUSDT"])
            await good.balance()
            assert good.user is not None
            listen_key = good.user.listen_key
            sandbox.set_faults({"expire_listen_key": True})
            await wait_for(lambda: good.user.listen_key != listen_key, "a new listenKey")
            with pytest.raises(AuthError) as info:
                await bad_secret.balance()
        finally:
            await good.stop()
            await bad_secret.stop()
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("casino.sandbox", "uvicorn"))
    )
    texts = {"error": str(info.value) + repr(info.value), "logs": ours, "repr": repr(good) + repr(bad_secret)}
    for where, text in texts.items():
        for secret in (API_SECRET, "wrong-secret-value", listen_key, good.user.listen_key):
            assert secret not in text, f"a secret leaked into the {where}"
        assert not SIGNATURE.search(text), f"a signature leaked into the {where}"
    assert "signature=***" in ours  # the request lines were logged, scrubbed
    assert API_KEY not in str(info.value)
