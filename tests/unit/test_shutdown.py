"""Shutdown on the sim: a sweep is committed, and what the exit says about positions is what the exchange
confirmed (report fields `sweep`, `unprotected_at_exit`, `unprotected`, and the exit code)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from casino_tui.engine.report import EXIT_NOT_FLAT, EXIT_OK, EXIT_UNPROTECTED
from casino_tui.model import BracketState
from tests.unit.outage_sim import HELD, Outage, build_runtime, has_stop, read_report, start_fast


def protected_message(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "stay protected" in r.getMessage()]


async def test_startup_protects_the_positions_it_finds(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    positions, orders = runtime.exchange.truth()
    assert {p.symbol for p in positions} == set(HELD)
    assert all(has_stop(p, orders) for p in positions)
    await runtime.shutdown()


async def test_keep_at_exit_says_protected_only_after_the_exchange_confirms_each_stop(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)

    runtime.request_stop(sweep=False)
    await runtime.shutdown()

    report = read_report(runtime)
    assert (report["sweep"], report["unprotected_at_exit"], report["exit_code"]) == ("not_run", 0, EXIT_OK)
    assert report["open_positions"] == len(HELD)
    assert protected_message(caplog) == [
        "shutdown: 2 open positions stay protected on the exchange (stop-loss and take-profit confirmed)"
    ]


async def test_a_missing_stop_at_exit_is_reported_unprotected_with_its_own_exit_code(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    sim = runtime.exchange
    # The order endpoints go down, then the exchange drops ETH's stop: it cannot be put back.
    sim.down = Outage.ORDERS
    assert sim.drop_stop("ETHUSDT")
    sim.flush_events()
    await runtime.croupier.wait_idle()

    await runtime.shutdown()

    report = read_report(runtime)
    assert report["unprotected_at_exit"] == 1 and report["exit_code"] == EXIT_UNPROTECTED == runtime.exit_code
    (line,) = report["unprotected"]
    assert line.startswith("ETHUSDT SHORT 0.1: no stop-loss")
    at_exit = [r for r in caplog.records if r.getMessage().startswith("UNPROTECTED at exit")]
    assert [(r.levelno, r.getMessage()) for r in at_exit] == [
        (logging.CRITICAL, f"UNPROTECTED at exit: {line}")
    ]
    assert protected_message(caplog) == [
        "shutdown: 1 open positions stay protected on the exchange (stop-loss and take-profit confirmed)"
    ], "only the position whose stop the exchange holds is called protected"
    positions, orders = sim.truth()
    assert [p.symbol for p in positions if not has_stop(p, orders)] == ["ETHUSDT"], (
        "the report tells the truth"
    )


async def test_a_stop_missing_at_exit_is_put_back_before_the_exit_says_protected(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    sim = runtime.exchange
    # Dropped behind the engine's back: its event never arrives, so only the exit check can notice.
    sim.set_sinks(runtime.engine, None)
    assert sim.drop_stop("BTCUSDT")
    sim.flush_events()

    await runtime.shutdown()

    report = read_report(runtime)
    assert (report["unprotected_at_exit"], report["exit_code"]) == (0, EXIT_OK)
    positions, orders = sim.truth()
    assert len(positions) == len(HELD) and all(has_stop(p, orders) for p in positions)


async def test_an_exchange_that_cannot_be_read_at_exit_verifies_nothing(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    runtime.exchange.down = Outage.READS

    await runtime.shutdown()

    report = read_report(runtime)
    assert report["exit_code"] == EXIT_UNPROTECTED and report["unprotected_at_exit"] == len(HELD)
    assert all("stop-loss not verified" in line for line in report["unprotected"])


async def test_a_stop_during_a_sweep_waits_for_it_and_the_run_ends_flat(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    sim = runtime.exchange
    release = asyncio.Event()
    place = sim.place_order

    async def slow_closes(request):
        if request.reduce_only:
            await release.wait()
        return await place(request)

    sim.place_order = slow_closes
    sweep = runtime.start_sweep()
    await asyncio.sleep(0.01)
    assert not sweep.done(), "the sweep is waiting for its closes"
    runtime.request_stop(sweep=False)  # quit and keep, or SIGTERM: the sweep still finishes
    stopping = asyncio.create_task(runtime.shutdown())
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.wait_for(stopping, 10)

    assert sim.truth() == ([], [])
    report = read_report(runtime)
    assert (report["sweep"], report["unprotected_at_exit"], report["exit_code"]) == ("flat", 0, EXIT_OK)
    assert report["open_positions"] == 0


async def test_a_cancelled_caller_does_not_cancel_the_sweep(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    caller = asyncio.create_task(runtime.sweep())
    await asyncio.sleep(0)
    caller.cancel()  # the console's worker, cancelled when the app exits
    await asyncio.gather(caller, return_exceptions=True)

    await runtime.shutdown()

    assert runtime.exchange.truth() == ([], [])
    assert read_report(runtime)["sweep"] == "flat"


async def test_a_sweep_stopped_at_the_deadline_leaves_protected_positions_and_exit_code_4(tmp_path):
    runtime = build_runtime(tmp_path, sweep_deadline_s=0.2)
    await start_fast(runtime)
    sim = runtime.exchange
    place = sim.place_order
    never = asyncio.Event()

    async def stuck_closes(request):
        if request.reduce_only:
            await never.wait()
        return await place(request)

    sim.place_order = stuck_closes
    runtime.request_stop(sweep=True)
    await runtime.shutdown()

    report = read_report(runtime)
    assert (report["sweep"], report["unprotected_at_exit"]) == ("incomplete", 0)
    assert report["exit_code"] == EXIT_NOT_FLAT and report["open_positions"] == len(HELD)
    positions, orders = sim.truth()
    assert len(positions) == len(HELD) and all(has_stop(p, orders) for p in positions)


async def test_a_sweep_asked_for_once_is_not_undone_by_a_later_stop(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    runtime.request_stop(sweep=True)  # quit → sweep
    runtime.request_stop()  # then the console's own exit, or SIGTERM

    await runtime.shutdown()

    assert runtime.exchange.truth() == ([], [])
    assert read_report(runtime)["sweep"] == "flat"


async def test_a_sweep_that_cannot_reach_the_exchange_changes_no_bracket_and_stops_stay(tmp_path):
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    runtime.exchange.down = Outage.ORDERS
    before = {b.id: b.state for b in runtime.croupier.book.active}

    result = await runtime.sweep()

    assert not result.is_flat and result.remaining_positions == tuple(sorted(HELD))
    assert all("close did not reach the exchange" in why for why in result.reasons)
    assert {b.id: b.state for b in runtime.croupier.book.active} == before
    assert set(before.values()) == {BracketState.PROTECTED}
    runtime.exchange.down = Outage.NONE
    await runtime.shutdown()
    report = read_report(runtime)
    assert (report["sweep"], report["unprotected_at_exit"]) == ("incomplete", 0)
    assert report["exit_code"] == EXIT_NOT_FLAT, "the positions the sweep could not close are still open"
