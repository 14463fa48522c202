"""Start-up passes through RECOVERING while the runtime settles with the exchange, and says so."""

import logging

from casino_tui import runtime as runtime_module
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import TIMEFRAMES
from casino_tui.runtime import Runtime


def build() -> Runtime:
    config = load_config(None, {"sensors": {"executor": "inline"}}, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, use_timers=False)


async def test_the_snapshot_says_recovering_while_recovery_with_the_exchange_runs(monkeypatch):
    runtime = build()
    seen: list[tuple[RuntimeStatus, str]] = []
    recover = runtime_module.recover_with_exchange

    async def observed(*args, **kwargs):
        header = runtime.snapshot().header
        seen.append((header.status, header.progress))
        return await recover(*args, **kwargs)

    monkeypatch.setattr(runtime_module, "recover_with_exchange", observed)
    assert runtime.snapshot().header.status is RuntimeStatus.STARTING
    await runtime.start()
    assert seen == [(RuntimeStatus.RECOVERING, "recovering")]
    header = runtime.snapshot().header
    assert (header.status, header.progress) == (RuntimeStatus.RUNNING, "")
    await runtime.shutdown()


async def test_start_up_logs_each_phase_and_the_history_count(caplog):
    runtime = build()
    series = len(TIMEFRAMES) * len(runtime.symbols)
    with caplog.at_level(logging.INFO, logger="casino.runtime"):
        await runtime.start()
    phases = [r.getMessage() for r in caplog.records if r.getMessage().startswith("start-up: ")]
    assert phases[0] == f"start-up: loading history 0/{series}"
    assert phases[phases.index(f"start-up: loading history {series}/{series}") + 1 :] == [
        "start-up: warming sensors",
        "start-up: connecting",
        "start-up: recovering",
    ]
    await runtime.shutdown()
