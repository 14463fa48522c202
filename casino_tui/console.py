"""Run the Textual console and the Runtime on one asyncio loop.

The engine runs as a task; the app is a view and a remote control. When the app exits, the runtime's
orderly shutdown runs before anything is cancelled. SIGTERM and SIGHUP (which Textual does not handle)
trigger the same orderly path and restore the terminal.
"""

from __future__ import annotations

import asyncio
import signal

from casino_tui.config import Config
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime


def run_console(config: Config, paths: StatePaths, logs: LogSetup, timeout: float | None = None) -> int:
    if config.sensors.executor == "pool":
        # Start the forkserver (and its resource tracker) while stdio are still real: once Textual has
        # replaced them, spawning the helper fails with "bad value(s) in fds_to_keep".
        from multiprocessing import forkserver, resource_tracker

        resource_tracker.ensure_running()
        forkserver.ensure_running()
    return asyncio.run(_console(config, paths, logs, timeout))


async def _console(config: Config, paths: StatePaths, logs: LogSetup, timeout: float | None) -> int:
    from casino_tui.app import CasinoApp

    runtime = Runtime(config, paths=paths, log_setup=logs)
    confirm = "LIVE" if runtime.mode == "LIVE" else None
    app = CasinoApp(
        runtime, live=True, refresh_hz=config.ui.refresh_hz, theme=config.ui.theme, confirm_live=confirm
    )
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
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop_everything)
    if timeout is not None:
        loop.call_later(timeout, stop_everything)
    try:
        await app.run_async(mouse=config.ui.mouse)
    finally:
        runtime.request_stop()
        if runtime.is_sweeping:  # the console is gone; say why the process is still here
            print(
                f"waiting for the sweep to finish (up to {config.runtime.sweep_deadline_s:g}s)...", flush=True
            )
        await asyncio.gather(engine, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    if not engine.cancelled() and engine.exception() is not None:
        raise engine.exception()  # type: ignore[misc]
    if runtime.report_path is not None:
        print(f"report: {runtime.report_path}")
    code = app.return_code or 0
    # SIGTERM/SIGHUP end the app with 128+n after the orderly shutdown: that is a normal stop.
    return runtime.exit_code or (0 if code >= 128 else code)
