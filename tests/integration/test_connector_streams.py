"""Market and user streams of the real connector over loopback sockets: data flows, and heals after faults."""

from __future__ import annotations

from connector_support import connected, wait_for

from casino_tui.exchange.binance.rest import EndpointGroup
from casino_tui.model import OrderRequest, OrderType, Side
from casino_tui.port import BreakerStatus


async def test_trades_and_marks_arrive_for_every_symbol() -> None:
    async with connected() as (_, exchange, rec):
        await wait_for(
            lambda: {t.symbol for t in rec.trades} == {"BTCUSDT", "ETHUSDT"}, "trades of both symbols"
        )
        await wait_for(lambda: {m[0] for m in rec.marks} >= {"BTCUSDT", "ETHUSDT"}, "mark prices")
        assert ("market", True, "connected") in rec.statuses
        assert ("user", True, "connected") in rec.statuses
        assert all(t.price > 0 and t.qty > 0 for t in rec.trades)
        assert exchange.market is not None and exchange.market.bad_frames == 0


async def test_dropped_sockets_reconnect_report_status_and_resync() -> None:
    async with connected() as (sandbox, exchange, rec):
        accounts_before = len(rec.accounts)
        sandbox.set_faults({"drop_sockets": True})
        await wait_for(lambda: any(s[:2] == ("market", False) for s in rec.statuses), "market down status")
        await wait_for(lambda: ("market", True, "reconnected") in rec.statuses, "market reconnected")
        await wait_for(lambda: ("user", True, "reconnected") in rec.statuses, "user reconnected")
        # Resync: REST prices go to the sink as marks, and the account is re-read.
        await wait_for(
            lambda: any(a.reason == "RESYNC" for a in rec.accounts[accounts_before:]), "account resync"
        )
        trades_after = len(rec.trades)
        await wait_for(lambda: len(rec.trades) > trades_after + 5, "trades after the reconnect")
        assert exchange.market is not None and exchange.market.shards[0].loop.connects >= 2


async def test_silent_socket_is_dropped_by_the_watchdog_and_replaced() -> None:
    async with connected(silence_s=1.0) as (sandbox, exchange, rec):
        await wait_for(lambda: rec.trades, "first trades")
        sandbox.set_faults({"silent_sockets": True})
        await wait_for(lambda: ("market", False, "silent for 1s") in rec.statuses, "watchdog drop")
        sandbox.set_faults({"silent_sockets": False})
        await wait_for(lambda: ("market", True, "reconnected") in rec.statuses, "market reconnected")
        count = len(rec.trades)
        await wait_for(lambda: len(rec.trades) > count, "trades flowing again")


async def test_planned_rotation_reconnects_before_the_24h_cut() -> None:
    async with connected(rotate_after_s=1.0) as (_, exchange, rec):
        await wait_for(lambda: ("market", False, "planned rotation") in rec.statuses, "rotation")
        await wait_for(lambda: ("market", True, "reconnected") in rec.statuses, "reconnected after rotation")


async def test_listen_key_expiry_mints_a_new_key_and_events_flow_again() -> None:
    async with connected() as (sandbox, exchange, rec):
        assert exchange.user is not None
        minted = exchange.user.keys_minted
        sandbox.set_faults({"expire_listen_key": True})
        await wait_for(lambda: exchange.user.keys_minted > minted, "a new listenKey")
        await wait_for(lambda: ("user", True, "reconnected") in rec.statuses, "user stream reconnected")
        await exchange.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.002, "after-expiry-1")
        )
        await wait_for(lambda: rec.order("after-expiry-1", "FILLED"), "fill event on the new key")
        assert (await sandbox.state()).active_listen_keys >= 1


async def test_listen_key_unknown_on_keepalive_is_replaced() -> None:
    async with connected(keepalive_s=0.2) as (sandbox, exchange, rec):
        assert exchange.user is not None
        minted = exchange.user.keys_minted
        sandbox.venue.listen_keys.expire_all()  # gone without a listenKeyExpired event: the PUT gets -1125
        await wait_for(lambda: exchange.user.keys_minted > minted, "a new listenKey after -1125")
        await wait_for(lambda: ("user", True, "reconnected") in rec.statuses, "user stream reconnected")
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.002, "after-1125"))
        await wait_for(lambda: rec.order("after-1125", "FILLED"), "fill event on the new key")


async def test_tickers_answer_from_the_stream_cache_while_the_market_breaker_is_open() -> None:
    async with connected() as (_, exchange, rec):
        await wait_for(
            lambda: {t.symbol for t in rec.trades} == {"BTCUSDT", "ETHUSDT"}, "trades of both symbols"
        )
        breaker = exchange.breakers[EndpointGroup.MARKET]
        breaker.force_open("test", seconds=60)
        used = exchange.limiter.used_weight
        prices = await exchange.tickers()
        assert breaker.status is BreakerStatus.OPEN
        assert set(prices) == {"BTCUSDT", "ETHUSDT"} and all(p > 0 for p in prices.values())
        assert exchange.limiter.used_weight == used  # answered without a request
