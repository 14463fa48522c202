"""Work that must eventually succeed after the exchange was away: re-reading the account, probing breakers.

A `HealingJob` runs its work after `request()` and retries it with exponential backoff and jitter (tenacity)
until one run succeeds, however long the outage lasts. A request that arrives during the last attempt asks
for one more run (what that attempt read may predate the news); a request also cuts a backoff wait short,
since it usually means the exchange is reachable again. One task per job at most: requests coalesce.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from casino_tui.port import AuthError, ExchangeError

log = logging.getLogger("casino.healing")

# AccountUpdate.reason of a full account read made after a gap (the user stream's events may be lost).
RESYNC = "RESYNC"


def is_worth_retrying(exc: BaseException) -> bool:
    """Exchange failures heal by waiting (an open breaker, a refused connection); a rejected key does not."""
    return isinstance(exc, ExchangeError) and not isinstance(exc, AuthError)


class HealingJob:
    """Runs `work` until it succeeds once per request; see the module docstring."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        *,
        first_wait_s: float = 0.25,
        max_wait_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self._work = work
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._wanted = ""  # why the next attempt is needed; "" once an attempt has started after the request
        self._stopped = False
        self.attempts = 0
        self.successes = 0
        self.last_error = ""

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def request(self, reason: str) -> None:
        """Run the work (again) soon; a job waiting out a backoff tries at once."""
        if self._stopped:
            return
        self._wanted = reason
        self._wake.set()
        if not self.is_running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"heal-{self.name}")

    def request_if_idle(self, reason: str) -> None:
        """Run the work unless a run is already under way (whose own reads are recent enough)."""
        if not self.is_running:
            self.request(reason)

    async def wait_idle(self) -> None:
        """Until no run is under way (requests made meanwhile included)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def stop(self) -> None:
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while self._wanted and not self._stopped:
            reason = self._wanted
            try:
                await self._until_success(reason)
            except Exception:  # a bug in the work, not the exchange: say so; the next request tries again
                self._wanted = ""
                log.exception("%s failed (after %s)", self.name, reason)

    async def _until_success(self, reason: str) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_worth_retrying),
            wait=self._backoff,
            sleep=self._sleep,
            before_sleep=self._note_failure,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                self._wanted = ""
                self._wake.clear()
                self.attempts += 1
                await self._work()
        self.successes += 1
        failed = retrying.statistics.get("attempt_number", 1) - 1
        if failed:
            log.warning("%s succeeded after %d failed attempts (%s)", self.name, failed, reason)
        self.last_error = ""

    def _backoff(self, state: RetryCallState) -> float:
        ceiling = min(self._max_wait_s, self._first_wait_s * 2.0 ** (state.attempt_number - 1))
        return ceiling * (1.0 - 0.5 * self._rng.random())

    async def _sleep(self, seconds: float) -> None:
        """The backoff wait, cut short by a new request."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    def _note_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        self.last_error = str(exc)
        n = state.attempt_number
        # Attempts 1, 2, 4, 8 ... are logged as warnings: an outage of an hour writes a dozen lines, not 700.
        level = logging.WARNING if n & (n - 1) == 0 else logging.DEBUG
        log.log(level, "%s failed (attempt %d): %s; retrying", self.name, n, exc)
