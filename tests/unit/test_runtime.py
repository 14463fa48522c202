"""Runtime on the seeded sim with a ManualClock: pause, resume, durable pause, sweep and recovery."""

import msgspec

from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime

QUICK = {"sensors": {"executor": "inline"}, "player": {"cooldown_s": 0.0}}


def build(tmp_path=None, clock=None) -> Runtime:
    config = load_config(None, QUICK, env={})
    clock = clock or ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    paths = StatePaths(tmp_path) if tmp_path is not None else None
    return Runtime(config, exchange=exchange, clock=clock, paths=paths, use_timers=False)


async def test_paused_runtime_opens_no_brackets_and_resume_lets_decisions_trade():
    runtime = build()
    await runtime.start()
    runtime.pause()
    await runtime.advance(6 * 60_000, step_ms=2000)
    snap = runtime.snapshot()
    assert snap.header.status == "PAUSED"
    assert snap.counters.decisions > 0, "the seeded sim should produce decisions within 6 minutes"
    assert snap.counters.brackets_opened == 0
    runtime.resume()
    await runtime.advance(6 * 60_000, step_ms=2000)
    assert runtime.snapshot().counters.brackets_opened > 0
    await runtime.shutdown()


async def test_sweep_flattens_and_pauses():
    runtime = build()
    await runtime.start()
    await runtime.advance(4 * 60_000, step_ms=2000)
    assert runtime.open_position_count > 0
    result = await runtime.sweep()
    assert result.is_flat and runtime.is_paused
    assert await runtime.exchange.positions() == []
    assert await runtime.exchange.open_orders() == []
    await runtime.shutdown()


async def test_pause_and_brackets_survive_a_restart(tmp_path):
    first = build(tmp_path)
    await first.start()
    await first.advance(4 * 60_000, step_ms=2000)
    opened = [b.id for b in first.croupier.brackets]
    kept = first.open_position_count
    assert opened
    first.pause()
    await first.shutdown()
    state = msgspec.json.decode((tmp_path / "snapshots" / "state.json").read_bytes())
    assert state["paused"] is True and len(state["brackets"]) == len(opened)

    second = build(tmp_path)
    await second.start()
    assert second.is_paused
    # The sim's paper account was saved with the snapshot, so the kept brackets are still open on it; new
    # bracket ids never reuse old ones.
    assert second.open_position_count == kept
    assert second.croupier.next_bracket_seq > max(int(i[1:]) for i in opened)
    await second.shutdown()
