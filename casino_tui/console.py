"""Run the Textual console and the Runtime on one asyncio loop.

The engine runs as a task; the app is a view and a remote control. When the app exits, the runtime's
orderly shutdown runs before anything is cancelled. SIGTERM, SIGINT and SIGHUP (which Textual does not
handle) trigger the same orderly path and restore the terminal. In LIVE mode the runtime streams market
data only until the operator types the confirmation: the gate holds the engine, not just the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from casino_tui.config import Config, ConfigError
from casino_tui.early_signals import EarlySignals
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.model import TradingMode
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime

if TYPE_CHECKING:
    from casino_tui.app import CasinoApp

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def check_theme(name: str) -> None:
    """`ui.theme` must name one of Textual's themes: one line and exit 2 before anything starts."""
    from textual.theme import BUILTIN_THEMES

    if name not in BUILTIN_THEMES:
        raise ConfigError(f"ui.theme: unknown theme {name!r} (one of: {', '.join(sorted(BUILTIN_THEMES))})")


def run_console(
    config: Config,
    paths: StatePaths,
    logs: LogSetup,
    timeout: float | None = None,
    early: EarlySignals | None = None,
) -> int:
    start_pool_helpers(config)
    return asyncio.run(_console(config, paths, logs, timeout, early))


def start_pool_helpers(config: Config) -> None:
    """With the process pool, start the forkserver (and its resource tracker) while stdio are still real:
    once Textual has replaced them, spawning the helper fails with "bad value(s) in fds_to_keep"."""
    if config.sensors.executor == "pool":
        from multiprocessing import forkserver, resource_tracker

        resource_tracker.ensure_running()
        forkserver.ensure_running()


def console_app(runtime: Runtime, config: Config) -> CasinoApp:
    """The console over `runtime`; in LIVE mode it opens on the typed gate, whose yes confirms the runtime."""
    from casino_tui.app import CasinoApp

    confirm = "LIVE" if runtime.mode is TradingMode.LIVE else None
    return CasinoApp(
        runtime, live=True, refresh_hz=config.ui.refresh_hz, theme=config.ui.theme, confirm_live=confirm
    )


@contextlib.asynccontextmanager
async def engine_running(
    runtime: Runtime, app: CasinoApp, timeout: float | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """The runtime as a task beside the app; on the way out its orderly shutdown runs to the end."""
    loop = asyncio.get_running_loop()
    engine = asyncio.create_task(runtime.run(), name="runtime")

    def stop_everything() -> None:
        runtime.request_stop()
        app.exit()

    def engine_done(task: asyncio.Task[None]) -> None:
        # A startup failure (unknown symbol, bad key) ends the app; the error is re-raised below.
        if not task.cancelled() and task.exception() is not None:
            app.exit(return_code=2)

    engine.add_done_callback(engine_done)
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop_everything)
    if timeout is not None:
        loop.call_later(timeout, stop_everything)
    try:
        yield engine
    finally:
        runtime.request_stop()
        # The app may have put the default handlers back as it unmounted: a SIGTERM now must not kill the
        # process in the middle of the shutdown (or of a sweep it waits for).
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, runtime.request_stop)
        if runtime.is_sweeping:  # the console is gone; say why the process is still here
            deadline = runtime.config.runtime.sweep_deadline_s
            print(f"waiting for the sweep to finish (up to {deadline:g}s)...", flush=True)
        await asyncio.gather(engine, return_exceptions=True)
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def _console(
    config: Config, paths: StatePaths, logs: LogSetup, timeout: float | None, early: EarlySignals | None
) -> int:
    runtime = Runtime(config, paths=paths, log_setup=logs)
    app = console_app(runtime, config)
    async with engine_running(runtime, app, timeout) as engine:
        # A stop signal before the loop's handlers were in place: stop in order, without opening the console.
        if early is None or early.hand_over() is None:
            await app.run_async(mouse=config.ui.mouse)
    if not engine.cancelled() and engine.exception() is not None:
        raise engine.exception()  # type: ignore[misc]
    if runtime.report_path is not None:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP): the report is written anyway
            print(f"report: {runtime.report_path}")
    code = app.return_code or 0
    # SIGTERM/SIGHUP end the app with 128+n after the orderly shutdown: that is a normal stop.
    return runtime.exit_code or (0 if code >= 128 else code)
