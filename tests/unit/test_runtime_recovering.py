"""Start-up passes through RECOVERING while the runtime settles with the exchange, and says so."""

from casino_tui import runtime as runtime_module
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.runtime import Runtime


def build() -> Runtime:
    config = load_config(None, {"sensors": {"executor": "inline"}}, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, use_timers=False)


async def test_the_snapshot_says_recovering_while_recovery_with_the_exchange_runs(monkeypatch):
    runtime = build()
    seen: list[RuntimeStatus] = []
    recover = runtime_module.recover_with_exchange

    async def observed(*args, **kwargs):
        seen.append(runtime.snapshot().header.status)
        return await recover(*args, **kwargs)

    monkeypatch.setattr(runtime_module, "recover_with_exchange", observed)
    assert runtime.snapshot().header.status is RuntimeStatus.STARTING
    await runtime.start()
    assert seen == [RuntimeStatus.RECOVERING]
    assert runtime.snapshot().header.status is RuntimeStatus.RUNNING
    await runtime.shutdown()
