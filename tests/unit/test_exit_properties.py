"""Property: whatever the operator and the exchange do (sweeps, some of whose callers go away; pauses; quit
with keep or sweep; SIGTERM; outages of the order or read endpoints; stops dropped by the exchange; the market
moving), the run never ends with a position lacking its stop-loss unless the report and exit code say so.

In-process on the real sim (ManualClock, inline sensors), faults switched by `OutageSim`; every example is a
fresh runtime and the exchange's truth is read from the matching engine itself at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from casino_tui.engine.report import EXIT_UNPROTECTED
from casino_tui.runtime import Runtime
from tests.unit.outage_sim import (
    HELD,
    Outage,
    OutageSim,
    build_runtime,
    has_stop,
    read_report,
    run_fast,
)

DEADLINE_S = 30.0


class Sweep(msgspec.Struct, frozen=True, tag=True):
    """The console's sweep; with `caller_leaves` its worker is cancelled right after (the app exits)."""

    caller_leaves: bool


class SigUsr2(msgspec.Struct, frozen=True, tag=True):
    pass


class TogglePause(msgspec.Struct, frozen=True, tag=True):
    pass


class Stop(msgspec.Struct, frozen=True, tag=True):
    """Quit (keep: False, sweep: True) or SIGTERM/SIGINT/--timeout (None)."""

    sweep: bool | None


class SetOutage(msgspec.Struct, frozen=True, tag=True):
    down: Outage


class DropStop(msgspec.Struct, frozen=True, tag=True):
    symbol: str


class Market(msgspec.Struct, frozen=True, tag=True):
    seconds: int


class Wait(msgspec.Struct, frozen=True, tag=True):
    """Let whatever is in flight run for a few loop turns."""

    turns: int


OUTAGES = [Outage.NONE, Outage.ORDERS, Outage.READS, Outage.ORDERS | Outage.READS]
# Outages and dropped stops twice as likely as the rest: they are what can leave a position naked.
OUTAGE = st.builds(SetOutage, st.sampled_from(OUTAGES))
DROP = st.builds(DropStop, st.sampled_from(list(HELD)))
EVENTS = st.one_of(
    st.builds(Sweep, st.booleans()),
    st.just(SigUsr2()),
    st.just(TogglePause()),
    st.builds(Stop, st.sampled_from([None, False, True])),
    OUTAGE,
    OUTAGE,
    DROP,
    DROP,
    st.builds(Market, st.integers(1, 30)),
    st.builds(Wait, st.integers(1, 20)),
)


async def apply(runtime: Runtime, event: Any, callers: list[asyncio.Task[Any]]) -> None:
    sim = runtime.exchange
    assert isinstance(sim, OutageSim)
    match event:
        case Sweep(caller_leaves=leaves):
            caller = asyncio.create_task(runtime.sweep())
            callers.append(caller)
            await asyncio.sleep(0)
            if leaves:
                caller.cancel()
        case SigUsr2():
            runtime.start_sweep()
        case TogglePause():
            runtime.toggle_pause()
        case Stop(sweep=sweep):
            runtime.request_stop(sweep)
        case SetOutage(down=down):
            sim.down = down
        case DropStop(symbol=symbol):
            sim.drop_stop(symbol)
            sim.flush_events()
        case Market(seconds=seconds):
            if runtime.status in ("RUNNING", "PAUSED"):
                runtime.clock.advance(seconds * 1000)
                sim.pump()
                runtime.tick()
        case Wait(turns=turns):
            for _ in range(turns):
                await asyncio.sleep(0)


async def play(events: list[Any], state_dir: Path) -> tuple[Runtime, OutageSim]:
    runtime = build_runtime(state_dir, sweep_deadline_s=DEADLINE_S)
    run = await run_fast(runtime)
    sim = runtime.exchange
    assert isinstance(sim, OutageSim)
    callers: list[asyncio.Task[Any]] = []
    for step in events:
        if run.done():
            break  # stopped: the process has exited, nothing reaches it any more
        await apply(runtime, step, callers)
    runtime.request_stop()  # SIGTERM at the end, if nothing stopped the run before
    await asyncio.wait_for(run, DEADLINE_S * 3)
    await asyncio.gather(*callers, return_exceptions=True)
    return runtime, sim


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=st.lists(EVENTS, max_size=12))
def test_no_position_is_left_without_its_stop_unless_the_report_and_exit_code_say_so(events) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime, sim = asyncio.run(play(events, Path(tmp)))
        report = read_report(runtime)
    positions, orders = sim.truth()
    naked = sorted(p.symbol for p in positions if not has_stop(p, orders))
    event(f"exit code {report['exit_code']}, sweep {report['sweep']}, {len(naked)} naked")
    named = {line.split(" ", 1)[0] for line in report["unprotected"]}
    assert report["exit_code"] == runtime.exit_code
    assert report["unprotected_at_exit"] == len(report["unprotected"])
    if naked:
        assert runtime.exit_code == EXIT_UNPROTECTED, (naked, report)
        assert set(naked) <= named, (naked, report["unprotected"])
    if report["unprotected_at_exit"] == 0:
        assert not naked, (naked, report)
        assert report["open_positions"] == len(positions), report
    if report["sweep"] == "flat" and report["open_positions"] == 0 and report["unprotected_at_exit"] == 0:
        assert positions == [] and orders == [], "a verified flat exit is flat"
