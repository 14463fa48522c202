"""Run the Runtime with no UI: logs on stdout, signals for control, a bounded `--timeout`, a report at exit.

SIGTERM/SIGINT → orderly shutdown; SIGUSR1 → toggle pause; SIGUSR2 → emergency sweep; SIGHUP → reconcile.
A sweep, once started, runs to its end even if a stop comes meanwhile (shutdown waits for it). The last
line on stdout is `report: <path>`; the process exits with the report's `exit_code`. Never imports textual.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from casino_tui.config import Config
from casino_tui.early_signals import EarlySignals
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime

log = logging.getLogger("casino.headless")

STATUS_EVERY_S = 5.0


async def run_headless(
    config: Config,
    paths: StatePaths,
    timeout: float | None,
    logs: LogSetup,
    *,
    early: EarlySignals | None = None,
    confirm_live: bool = False,
    runtime: Runtime | None = None,
) -> Runtime:
    """Run until a signal or the timeout; returns the stopped runtime (its `report_path` is set).

    `confirm_live` is the operator's go-ahead checked by the CLI (`--confirm-live`): without it a LIVE
    runtime streams market data and never trades. `runtime` is one built by the caller (a replay).
    """
    runtime = runtime or Runtime(config, paths=paths, log_setup=logs)
    if confirm_live:
        runtime.confirm_live()
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    def spawn(coro: Coroutine[Any, Any, object]) -> None:
        task = loop.create_task(coro)
        pending.add(task)
        task.add_done_callback(_settled)

    def _settled(task: asyncio.Task[object]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed: %s", task.get_name(), task.exception())

    def on_stop(signame: str) -> None:
        log.warning("%s received: orderly shutdown", signame)
        runtime.request_stop()

    async def reconcile_and_apply() -> None:
        if not runtime.status.is_ready:
            log.warning("SIGHUP while %s: nothing to reconcile yet", runtime.status)
            return
        report = await runtime.reconcile(apply=True)
        log.warning("reconcile: %d differences handled", len(report.items))

    loop.add_signal_handler(signal.SIGTERM, on_stop, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop, "SIGINT")
    loop.add_signal_handler(signal.SIGUSR1, runtime.toggle_pause)
    loop.add_signal_handler(signal.SIGUSR2, runtime.start_sweep)
    loop.add_signal_handler(signal.SIGHUP, lambda: spawn(reconcile_and_apply()))
    if early is not None and (stop_signal := early.hand_over()) is not None:
        on_stop(stop_signal.name)

    def on_timeout() -> None:
        log.info("timeout reached: orderly shutdown")
        runtime.request_stop()

    if timeout is not None:
        loop.call_later(timeout, on_timeout)
    status_task = loop.create_task(_status_lines(runtime))
    try:
        await runtime.run()
    finally:
        status_task.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for task in list(pending):  # a reconcile asked for during shutdown has nothing left to act on
            task.cancel()
        await asyncio.gather(status_task, *pending, return_exceptions=True)
    return runtime


async def _status_lines(runtime: Runtime) -> None:
    """One human-readable status line every few seconds, the headless stand-in for the header."""
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        if not runtime.status.is_ready:
            continue
        snap = runtime.snapshot()
        h, c = snap.header, snap.counters
        ticks = sum(row.ticks_per_s for row in snap.streams)
        up = sum(conn.connected for conn in snap.connections)
        log.info(
            "%s %s equity %.2f pnl %+.2f positions %d/%d ticks/s %.0f decisions %d brackets %d/%d "
            "sockets %d/%d%s",
            h.mode,
            h.status,
            h.equity,
            h.pnl,
            h.open_positions,
            h.max_positions,
            ticks,
            c.decisions,
            c.brackets_opened,
            c.brackets_closed,
            up,
            len(snap.connections),
            f" STALE: {h.stale_reason}" if h.is_stale else "",
        )


def print_report_line(runtime: Runtime) -> None:
    sys.stdout.write(f"report: {runtime.report_path}\n")
    sys.stdout.flush()
