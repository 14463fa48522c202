"""Quit while a sweep runs, over the REAL runtime on the sim: the sweep is committed, so `s y q k` typed
quickly still ends flat, whatever the console does with its own worker when it exits."""

from __future__ import annotations

import asyncio

from casino_tui.app import CasinoApp
from casino_tui.screens.confirm import ConfirmScreen
from casino_tui.screens.quit import QuitScreen
from tests.ui.pilot_support import start, wait_until
from tests.unit.outage_sim import HELD, build_runtime, has_stop, read_report, start_fast


async def test_s_y_q_k_typed_quickly_ends_flat_with_no_orders(tmp_path) -> None:
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    sim = runtime.exchange
    assert len(sim.truth()[0]) == len(HELD)
    # The closes wait until the console has gone, as they would behind a slow exchange.
    release = asyncio.Event()
    place = sim.place_order

    async def held_closes(request):
        if request.reduce_only:
            await release.wait()
        return await place(request)

    sim.place_order = held_closes
    app = CasinoApp(runtime, live=False)
    async with app.run_test() as pilot:
        await start(app, pilot)
        await pilot.press("s", "y", "q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        assert app.screen.is_sweeping, "the quit question knows a sweep is running"
        await pilot.press("k")
        await wait_until(pilot, lambda: not app.is_running, "the console to exit")
    assert runtime.is_sweeping, "the console's exit did not stop the sweep"
    assert len(sim.truth()[0]) == len(HELD), "no close has gone out yet"

    release.set()
    await asyncio.wait_for(runtime.shutdown(), 30)  # what the console runs once the app is gone

    assert sim.truth() == ([], []), "flat, with no open order"
    report = read_report(runtime)
    assert (report["sweep"], report["unprotected_at_exit"], report["exit_code"]) == ("flat", 0, 0)


async def test_quit_and_keep_without_a_sweep_keeps_positions_with_their_stops(tmp_path) -> None:
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    app = CasinoApp(runtime, live=False)
    async with app.run_test() as pilot:
        await start(app, pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        assert not app.screen.is_sweeping
        await pilot.press("k")
        await wait_until(pilot, lambda: not app.is_running, "the console to exit")

    await asyncio.wait_for(runtime.shutdown(), 30)

    positions, orders = runtime.exchange.truth()
    assert len(positions) == len(HELD) and all(has_stop(p, orders) for p in positions)
    report = read_report(runtime)
    assert (report["sweep"], report["unprotected_at_exit"], report["exit_code"]) == ("not_run", 0, 0)


async def test_an_unanswered_quit_question_is_asked_again_truthfully_once_the_sweep_ends(tmp_path) -> None:
    runtime = build_runtime(tmp_path)
    await start_fast(runtime)
    sim = runtime.exchange
    release = asyncio.Event()
    place = sim.place_order

    async def held_closes(request):
        if request.reduce_only:
            await release.wait()
        return await place(request)

    sim.place_order = held_closes
    app = CasinoApp(runtime, live=False)
    async with app.run_test() as pilot:
        await start(app, pilot)
        await pilot.press("s", "y", "q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        assert app.screen.is_sweeping

        release.set()  # the sweep ends while the question is still on screen
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question asked again")
        assert "no open position" in app.screen.message, "it says the sweep ended flat, not that it runs"
        assert app.is_running, "nothing was decided for the operator"
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, "the console to exit on yes")

    await asyncio.wait_for(runtime.shutdown(), 30)
    assert sim.truth() == ([], [])
