"""The decision path, the Engine's one candle consumer: closed candles → SensorManager → AdaptivePlayer →
one bracket per decision through the Croupier, while the runtime allows entries (else the signal is logged).

Before `start_trading` the votes only teach the player: warm-up decisions are counted, nothing trades.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from casino_tui.clock import Clock
from casino_tui.config import Config
from casino_tui.engine import retries
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.player import AdaptivePlayer
from casino_tui.engine.streams import StreamStats
from casino_tui.model import TIMEFRAMES, Candle, Decision
from casino_tui.port import Exchange
from casino_tui.sensors.manager import SensorManager
from casino_tui.sensors.votes import VoteBatch
from casino_tui.snapshot import ConsensusRow, SensorVoteRow

log = logging.getLogger("casino.runtime")

WARMUP_CANDLES = 300

History = dict[str, dict[str, list[Candle]]]  # timeframe → symbol → candles, oldest first


async def load_history(
    exchange: Exchange, symbols: list[str], end_ms: int, on_loaded: Callable[[], None] | None = None
) -> History:
    """WARMUP_CANDLES closed candles per symbol and timeframe, ending before `end_ms`; `on_loaded` is called
    as each series arrives (start-up progress)."""
    history: History = {tf: {} for tf in TIMEFRAMES}

    async def one(tf: str, symbol: str) -> None:
        history[tf][symbol] = await retries.read(
            lambda: exchange.klines(symbol, tf, WARMUP_CANDLES, end_ms=end_ms)
        )
        if on_loaded is not None:
            on_loaded()

    await asyncio.gather(*(one(tf, s) for tf in TIMEFRAMES for s in symbols))
    return history


class DecisionPath:
    """Sensors and player for `symbols`, and the brackets their decisions open.

    `entry_refusal()` says why entries are refused right now ("" when they are allowed): the runtime's
    pause and status decide it, this path only asks.
    """

    def __init__(
        self,
        symbols: list[str],
        config: Config,
        clock: Clock,
        stats: StreamStats,
        entry_refusal: Callable[[], str],
    ) -> None:
        self._symbols = symbols
        self._config = config
        self._clock = clock
        self._stats = stats
        self._entry_refusal = entry_refusal
        self.sensors: SensorManager | None = None  # built when warmed
        self.player: AdaptivePlayer | None = None
        self.croupier: Croupier | None = None  # set by start_trading
        self.decisions = 0
        self.errors = 0
        # Timeframes whose candles the sensors never see: a replay's data is coarser than them (not made up).
        self.unavailable_timeframes: frozenset[str] = frozenset()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def warm(self, history: Mapping[str, Mapping[str, list[Candle]]]) -> None:
        """Start the sensors on `history` and let the player hear their current votes."""
        self.sensors = SensorManager(self._symbols, self._config.sensors, self.on_votes)
        await self.sensors.start(history)
        self.player = AdaptivePlayer(
            self._symbols,
            self.sensors.sensor_names,
            self.sensors.sensor_timeframes,
            self._config.player,
            self._clock,
        )
        self.sensors.publish_current()
        await self.sensors.flush()

    def start_trading(self, croupier: Croupier, weights: Mapping[str, Any]) -> None:
        """From now on decisions open brackets through `croupier`; the player takes back its saved weights."""
        self.croupier = croupier
        if weights and self.player is not None:
            self.player.load_weights(weights)

    # ---- the path -----------------------------------------------------------------------------------

    def on_candles(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        """The Engine's candle consumer: one boundary's closed candles to the sensors."""
        if self.sensors is not None and timeframe not in self.unavailable_timeframes:
            self.sensors.submit(timeframe, open_ms, candles)

    def on_votes(self, batch: VoteBatch) -> None:
        """The sensors' consumer: the player turns one VoteBatch into decisions, each one an entry."""
        if self.player is None:
            return
        try:
            decisions = self.player.on_votes(batch)
        except Exception:
            self.errors += 1
            log.exception("player failed on %s batch", batch.timeframe)
            return
        for decision in decisions:
            self.decisions += 1
            if self.croupier is not None:
                self._enter(self.croupier, decision)

    def _enter(self, croupier: Croupier, decision: Decision) -> None:
        """Open a bracket for `decision` in its own task, unless entries are refused or no price is known."""
        refusal = self._entry_refusal()
        price = self._stats.last_price(decision.symbol)
        if not refusal and price is None:
            refusal = "no trade seen yet"  # nothing to size the entry by
        if refusal or price is None:
            log.info("%s signal ignored: %s", decision.side, refusal, extra={"symbol": decision.symbol})
            return
        self._spawn(croupier.open_bracket(decision, price), f"open-{decision.symbol}")

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            log.error("%s failed: %s", task.get_name(), task.exception())

    # ---- waiting and stopping -------------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until votes in flight and the entries they started are done."""
        for _ in range(20):
            if self.sensors is not None:
                await self.sensors.flush()
            await asyncio.sleep(0)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)
                if not self._tasks:
                    return

    @property
    def has_entries_in_flight(self) -> bool:
        """Entries started and not done yet (a replay settles until there are none)."""
        return bool(self._tasks)

    async def finish_entries(self) -> None:
        """Wait for the entries already started (shutdown: they end before the exit check)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        if self.sensors is not None:
            await self.sensors.stop()

    # ---- read side ------------------------------------------------------------------------------------

    def consensus(self, now_ms: int) -> tuple[ConsensusRow, ...]:
        if self.player is None or self.sensors is None:
            return ()
        return self.player.rows(now_ms, self.sensors.shard_of, self.sensors.is_degraded)

    def detail(self, symbol: str) -> tuple[SensorVoteRow, ...]:
        return self.player.detail(symbol) if self.player is not None else ()
