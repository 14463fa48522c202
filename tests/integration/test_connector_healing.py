"""The connector heals by itself after an outage, over real sockets against the sandbox.

Outages are real: the sandbox's server is stopped (sockets dropped, connections refused) and started again on
the same port. The clock is a ManualClock that the tests do not advance unless they say so, so no breaker
cooldown runs out by itself: what closes the breakers is the reconnect and the probes.
"""

from __future__ import annotations

import pytest
from connector_support import connected, wait_for

from casino_tui.clock import ManualClock
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.binance.recovery import PROBE_CLIENT_ID
from casino_tui.exchange.binance.rest import EndpointGroup
from casino_tui.healing import RESYNC
from casino_tui.model import OrderRequest, OrderType, Side
from casino_tui.port import BreakerStatus, ExchangeError

HEAL_DEADLINE_S = 10.0


def _entry(cid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.002, cid)


def _all_closed(exchange: BinanceExchange) -> bool:
    return all(b.state == "CLOSED" for b in exchange.health().breakers)


async def _trip(exchange: BinanceExchange, group: EndpointGroup, call) -> None:
    """Repeat a failing call until its group's breaker opens (however many sends one call makes)."""
    for _ in range(10):
        if exchange.breakers[group].is_open:
            return
        with pytest.raises(ExchangeError):
            await call()
    assert exchange.breakers[group].is_open, f"{group} breaker still {exchange.breakers[group].status}"


async def test_an_idle_orders_breaker_is_probed_back_to_closed_once_its_cooldown_ends() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, _rec):
        sandbox.set_faults({"service_unavailable": 10})
        attempt = iter(range(100))
        await _trip(
            exchange, EndpointGroup.ORDERS, lambda: exchange.place_order(_entry(f"pr-{next(attempt)}"))
        )
        sandbox.set_faults({"service_unavailable": 0})
        received = dict((await sandbox.state()).orders_received)
        orders = exchange.breakers[EndpointGroup.ORDERS]

        clock.advance(60_000)  # the cooldown ends; no order is sent from here on
        await wait_for(lambda: orders.status is BreakerStatus.CLOSED, "the probe to close the orders breaker")

        after = (await sandbox.state()).orders_received
        assert after == received, "the probe must not place an order"
        assert PROBE_CLIENT_ID not in after


async def test_the_user_stream_breaker_closes_as_soon_as_the_stream_is_back() -> None:
    async with connected(clock=ManualClock()) as (sandbox, exchange, rec):
        user_stream = exchange.breakers[EndpointGroup.USER_STREAM]
        await sandbox.stop()
        await wait_for(lambda: user_stream.is_open, "listenKey requests to trip the user-stream breaker")

        await sandbox.start()
        await wait_for(lambda: ("user", True, "reconnected") in rec.statuses, "the user stream to reconnect")
        await wait_for(
            lambda: user_stream.status is BreakerStatus.CLOSED,
            "the breaker to close",
            deadline_s=HEAL_DEADLINE_S,
        )
        await wait_for(lambda: _all_closed(exchange), "every breaker CLOSED", deadline_s=HEAL_DEADLINE_S)


async def test_an_account_resync_that_fails_is_retried_until_it_reads_the_account() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, rec):
        resync = exchange.recovery.resync
        await sandbox.stop()
        await _trip(exchange, EndpointGroup.ACCOUNT, exchange.positions)
        # Requested when the breaker opened; it fails while the exchange is away and keeps trying.
        await wait_for(lambda: resync.attempts >= 2 and resync.last_error, "the resync to fail and retry")
        price = (await sandbox.sim.tickers())["ETHUSDT"]
        sandbox.inject_position("ETHUSDT", -0.5, price)  # the exchange's truth changes while we are away
        seen = len(rec.accounts)

        await sandbox.start()
        await wait_for(
            lambda: any(a.reason == RESYNC for a in rec.accounts[seen:]),
            "the account to be re-read after the outage",
            deadline_s=HEAL_DEADLINE_S,
        )
        update = next(a for a in rec.accounts[seen:] if a.reason == RESYNC)
        assert {(p.symbol, p.qty) for p in update.positions} == {("ETHUSDT", -0.5)}
        assert resync.successes >= 1 and not resync.last_error
        await wait_for(lambda: _all_closed(exchange), "every breaker CLOSED", deadline_s=HEAL_DEADLINE_S)
