"""The operator's emergency sweep as a committed operation: it runs in its own task, so nothing that stops a
caller (the console quitting, a cancelled worker, a signal) stops it, and shutdown finishes the one running,
or the one the stop asks for, up to a deadline. After that no sweep starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from casino_tui.control import SweepResult
from casino_tui.engine.report import SweepOutcome

log = logging.getLogger("casino.runtime")


def _not_flat(why: str, said: str = "") -> SweepResult:
    return SweepResult(0, 0, (), False, f"NOT flat: {said or why}", reasons=(why,))


class SweepCommand:
    """Starts, awaits and finishes the session's sweeps; remembers how the last one ended.

    `sweep()` does the work (pause, journal, close everything); `refusal()` says why a sweep cannot start
    now ("" when it can).
    """

    def __init__(self, sweep: Callable[[], Awaitable[SweepResult]], refusal: Callable[[], str]) -> None:
        self._sweep = sweep
        self._refusal = refusal
        self._task: asyncio.Task[SweepResult] | None = None
        self._last: SweepResult | None = None
        self._is_accepting = True
        self._asked_at_stop: bool | None = None
        self.errors = 0

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def refusal(self) -> str:
        """Why a new sweep would be refused now, "" if it would start."""
        why = self._refusal()
        if not why and not self._is_accepting:
            why = "shutdown is past the point of sweeping"
        return why

    def start(self) -> asyncio.Task[SweepResult] | None:
        """Begin a sweep in its own task (or return the one running); None if refused."""
        if self.is_running:
            return self._task
        why = self.refusal()
        if why:
            log.warning("sweep not started: %s", why)
            return None
        self._task = asyncio.create_task(self._run(), name="sweep")
        return self._task

    async def run(self) -> SweepResult:
        """Sweep and wait for the result; a caller that goes away does not take the sweep with it."""
        task = self.start()
        if task is None:
            why = self.refusal()
            return _not_flat(why, f"sweep not started: {why}")
        return await asyncio.shield(task)

    async def _run(self) -> SweepResult:
        try:
            result = await self._sweep()
        except Exception as exc:  # a bug, not an exchange failure (those are in the result): still reported
            self.errors += 1
            log.exception("sweep failed")
            result = _not_flat(f"the sweep failed: {exc}")
        self._last = result
        return result

    def ask_at_stop(self, sweep: bool | None) -> None:
        """What a stop asked for (None: the configured default). A sweep asked for once stays asked for: a
        later stop (SIGTERM, the console's own exit) cannot turn it into "keep"."""
        if sweep is True:
            self._asked_at_stop = True
        elif sweep is False and self._asked_at_stop is None:
            self._asked_at_stop = False

    async def finish(self, *, by_default: bool, deadline_s: float) -> None:
        """Shutdown: start the sweep the stop asked for (else `by_default`), wait for the running one up to
        `deadline_s`, then refuse more."""
        wanted = self._asked_at_stop
        if wanted if wanted is not None else by_default:
            self.start()
        self._is_accepting = False
        task = self._task
        if task is None or task.done():
            return
        log.warning("shutdown: waiting for the sweep to finish (up to %gs)", deadline_s)
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            why = f"stopped at the shutdown deadline ({deadline_s:g}s)"
            log.error("sweep %s; stops go back on what is left", why)
            self._last = _not_flat(why)

    @property
    def outcome(self) -> SweepOutcome:
        """How the session's last sweep ended."""
        if self._last is None:
            return SweepOutcome.NOT_RUN
        return SweepOutcome.FLAT if self._last.is_flat else SweepOutcome.INCOMPLETE
