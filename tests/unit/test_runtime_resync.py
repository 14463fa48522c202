"""The Runtime's resync hook: a RESYNC account update (the exchange re-read after a gap) makes the runtime
reconcile with the safe policy, retried until the exchange can be read, so local brackets follow it."""

from __future__ import annotations

import asyncio

from fakes import FakeExchange

from casino_tui.clock import ManualClock
from casino_tui.config import Config, SensorsConfig, TradingConfig
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.healing import RESYNC
from casino_tui.model import AccountUpdate, BracketState, CloseReason, Decision, OrderStatus, Position, Side
from casino_tui.port import BreakerOpenError
from casino_tui.runtime import Runtime

PRICES = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_000.0}
DEADLINE_S = 10.0


class RecoveringExchange(FakeExchange):
    """The fake whose account reads are refused locally (an open breaker) the next `refusals` times."""

    def __init__(self) -> None:
        super().__init__(PRICES)
        self.refusals = 0
        self.refused = 0

    def _refuse(self) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            self.refused += 1
            raise BreakerOpenError("account breaker is OPEN: RetriableError")

    async def open_orders(self, symbol=None):
        self._refuse()
        return await super().open_orders(symbol)

    async def positions(self):
        self._refuse()
        return await super().positions()


async def started_runtime(fake: RecoveringExchange) -> Runtime:
    config = Config(
        symbols=list(PRICES),
        sensors=SensorsConfig(executor="inline", shards=1),
        trading=TradingConfig(notional_usdt=200.0, max_positions=len(PRICES)),
    )
    runtime = Runtime(config, exchange=fake, clock=ManualClock(), use_timers=False)
    await runtime.start()
    return runtime


async def open_protected(runtime: Runtime, fake: RecoveringExchange, symbol: str) -> Bracket:
    croupier = runtime.croupier
    assert croupier is not None
    bracket = await croupier.open_bracket(Decision(symbol, Side.BUY, 1.0, 0), PRICES[symbol])
    assert bracket is not None
    fake.deliver()
    await croupier.wait_idle()
    assert bracket.state is BracketState.PROTECTED, (bracket.state, bracket.note)
    return bracket


def resync_report() -> AccountUpdate:
    return AccountUpdate(balances=(), positions=(Position("ETHUSDT", 0.0, 0.0),), reason=RESYNC)


async def test_a_resync_makes_the_runtime_reconcile_retrying_until_the_account_can_be_read() -> None:
    fake = RecoveringExchange()
    runtime = await started_runtime(fake)
    try:
        kept = await open_protected(runtime, fake, "BTCUSDT")
        stopped = await open_protected(runtime, fake, "ETHUSDT")
        # The gap: the stop-loss fires and the take-profit of the other bracket is cancelled, and the
        # stream's events about both are lost.
        fake.trigger(stopped.sl_client_id)
        fake.cancel_behind_back(kept.tp_client_id, OrderStatus.CANCELED)
        fake.events.clear()
        fake.refusals = 3

        runtime.on_account_update(resync_report())
        await asyncio.wait_for(runtime.resync.wait_idle(), DEADLINE_S)

        assert fake.refused == 3 and runtime.resync.attempts == 4, "refused three times, then read"
        assert stopped.state is BracketState.CLOSED and stopped.close_reason is CloseReason.SL
        assert kept.state is BracketState.PROTECTED and kept.tp_acked
        assert {o.request.client_id for o in fake.open_conditional()} == {
            kept.tp_client_id,
            kept.sl_client_id,
        }
        snap = runtime.snapshot()
        assert snap.header.open_positions == 1
        assert [
            (r.symbol, r.state, r.is_protected) for r in snap.brackets if not r.state.startswith("CLOSED")
        ] == [("BTCUSDT", "PROTECTED", True)]
    finally:
        await runtime.shutdown()


async def test_ordinary_account_updates_do_not_start_a_reconcile() -> None:
    fake = RecoveringExchange()
    runtime = await started_runtime(fake)
    try:
        runtime.on_account_update(AccountUpdate(balances=(), positions=(), reason="ORDER"))
        assert not runtime.resync.is_running and runtime.resync.attempts == 0
    finally:
        await runtime.shutdown()


async def test_shutdown_stops_a_reconcile_that_is_still_waiting_for_the_exchange() -> None:
    fake = RecoveringExchange()
    runtime = await started_runtime(fake)
    fake.refusals = 1_000_000
    runtime.on_account_update(resync_report())
    await asyncio.wait_for(_until(lambda: fake.refused >= 1), DEADLINE_S)
    await asyncio.wait_for(runtime.shutdown(), DEADLINE_S)
    assert not runtime.resync.is_running


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.001)
