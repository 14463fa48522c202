"""The runtime's only timer: a few times a second it closes the candles that are due, hands the latest prices
to the croupier as marks, and measures how late the event loop woke it (the header's loop lag).

Tests and replays on a ManualClock step it themselves (`advance`, or `tick`) instead of starting the timer.
"""

from __future__ import annotations

import asyncio
import logging

from casino_tui.clock import Clock, ManualClock
from casino_tui.decisions import DecisionPath
from casino_tui.engine.engine import Engine
from casino_tui.engine.streams import StreamStats
from casino_tui.port import Exchange

log = logging.getLogger("casino.runtime")

TIMER_INTERVAL_S = 0.25


class Heartbeat:
    """Drives the Engine's timer and the croupier's marks; counts its own failures (a step never raises)."""

    def __init__(
        self, clock: Clock, exchange: Exchange, engine: Engine, stats: StreamStats, decisions: DecisionPath
    ) -> None:
        self._clock = clock
        self._exchange = exchange
        self._engine = engine
        self._stats = stats
        self._decisions = decisions
        self._task: asyncio.Task[None] | None = None
        self.loop_lag_ms = 0.0
        self.errors = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._beat(), name="runtime-timer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        expected = loop.time() + TIMER_INTERVAL_S
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            self.loop_lag_ms = max(0.0, (now - expected) * 1000)
            expected = max(expected + TIMER_INTERVAL_S, now)
            self.tick()

    def tick(self) -> None:
        """One timer step: due candles closed, marks handed on."""
        try:
            self._engine.tick_timer(self._clock.now_ms())
            croupier = self._decisions.croupier
            if croupier is not None:
                for symbol in self._engine.symbols:
                    price = self._stats.last_price(symbol)
                    if price:
                        croupier.on_mark(symbol, price)
        except Exception:
            self.errors += 1
            log.exception("timer step failed")

    async def advance(self, ms: int, step_ms: int = 1000) -> None:
        """Move a ManualClock forward in steps, pumping the sim and settling all work (tests, replays)."""
        clock = self._clock
        if not isinstance(clock, ManualClock):
            raise TypeError("advance() needs a ManualClock")
        end = clock.now_ms() + ms
        while clock.now_ms() < end:
            clock.advance(min(step_ms, end - clock.now_ms()))
            self._exchange.pump()
            self.tick()
            await self._decisions.settle()
