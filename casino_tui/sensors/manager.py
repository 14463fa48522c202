"""SensorManager: splits each boundary's closed candles across sticky shards, gathers their votes into one
VoteBatch per boundary, and restarts a shard whose worker dies.

The manager keeps the last `history_len` candles per symbol and timeframe itself (one ring of aligned
(5, n_symbols) rows per timeframe, the form the shards take), so a restarted worker is re-warmed at once
and without asking the exchange. While a shard is down its symbols are degraded: their rows in
the VoteBatch hold zeros and `degraded` True. Batches are delivered in submission order, on the loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np

from casino_tui.config import SensorsConfig
from casino_tui.model import TIMEFRAMES, Candle
from casino_tui.sensors.catalog import CATALOG, SensorSpec, check_catalog, sensors_of
from casino_tui.sensors.executors import (
    InlineExecutor,
    ProcessShardExecutor,
    ShardCallError,
    ShardCrashed,
    ShardExecutor,
)
from casino_tui.sensors.shard import HISTORY_LEN, HistoryArrays, ShardReply, align_history, boundary_arrays
from casino_tui.sensors.votes import ShardHealth, VoteBatch

log = logging.getLogger("casino.sensors")

_RESTART_BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0)
# A close costs a shard ~0.4 ms whatever its size plus ~1 us per symbol: below a few hundred symbols a second
# worker halves only the small part and adds a process competing for the cores.
SYMBOLS_PER_SHARD = 250


class ShardState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"  # worker down: calls are not sent, rows are degraded
    WARMING = "warming"  # new worker re-warming: calls queue behind the warm, rows still degraded until done
    STOPPED = "stopped"


class _Shard:
    __slots__ = ("index", "symbols", "rows", "state", "restarts", "errors", "last_latency_ms", "task")

    def __init__(self, index: int, symbols: tuple[str, ...], rows: np.ndarray) -> None:
        self.index = index
        self.symbols = symbols
        self.rows = rows  # this shard's rows in the manager's symbol order
        self.state = ShardState.STARTING
        self.restarts = 0
        self.errors = 0
        self.last_latency_ms = 0.0
        self.task: asyncio.Task[None] | None = None

    @property
    def is_degraded(self) -> bool:
        return self.state is not ShardState.RUNNING


class _SavedCandles:
    """The newest `size` boundaries of one timeframe as raw (5, n_symbols) rows, NaN for a missing symbol."""

    __slots__ = ("rows", "open_ms", "count")

    def __init__(self, size: int, n: int) -> None:
        self.rows = np.full((size, 5, n), np.nan)
        self.open_ms = np.zeros(size, dtype=np.int64)
        self.count = 0

    def push(self, open_ms: int, row: np.ndarray) -> None:
        at = self.count % len(self.rows)
        self.rows[at] = row
        self.open_ms[at] = open_ms
        self.count += 1

    def extend(self, history: HistoryArrays) -> None:
        for t in range(max(0, len(history.open_ms) - len(self.rows)), len(history.open_ms)):
            self.push(int(history.open_ms[t]), history.ohlcv[t])

    def for_columns(self, columns: np.ndarray) -> HistoryArrays:
        """Oldest first, only `columns` (one shard's symbols)."""
        size = len(self.rows)
        order = (
            np.arange(self.count) if self.count <= size else np.roll(np.arange(size), -(self.count % size))
        )
        return HistoryArrays(self.open_ms[order], self.rows[order][:, :, columns])


class _Batch:
    __slots__ = ("timeframe", "close_ms", "votes", "strengths", "trend", "closes", "degraded", "outstanding")

    def __init__(self, timeframe: str, close_ms: int, n: int, k: int, closes: np.ndarray, outstanding: int):
        self.timeframe = timeframe
        self.close_ms = close_ms
        self.votes = np.zeros((n, k), dtype=np.int8)
        self.strengths = np.zeros((n, k), dtype=np.float32)
        self.trend = np.zeros(n, dtype=np.int8)
        self.closes = closes
        self.degraded = np.zeros(n, dtype=bool)
        self.outstanding = outstanding


def default_shards(config: SensorsConfig, symbols: int) -> int:
    """config.shards, or when it is 0 one shard per SYMBOLS_PER_SHARD symbols, at most 4 and at most one
    fewer than the cores (the event loop keeps one)."""
    if config.shards:
        return config.shards
    spare = max(1, _cores() - 1)
    return max(1, min(4, spare, math.ceil(symbols / SYMBOLS_PER_SHARD)))


def _cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def executor_for(config: SensorsConfig) -> ShardExecutor:
    """The executor `config.executor` names; Ray's module (and Ray) only when it is chosen."""
    if config.executor == "inline":
        return InlineExecutor()
    if config.executor == "ray":
        from casino_tui.sensors.ray_executor import RaySession, RayShardExecutor

        # A local Ray gets a CPU per shard at least: each actor asks for one, and would wait forever.
        cpus = max(os.cpu_count() or 1, config.shards)
        return RayShardExecutor(RaySession(config.address, num_cpus=cpus))
    return ProcessShardExecutor()


class SensorManager:
    """Runs the sensor catalog for `symbols` on a pool of sticky shards and hands `on_votes` one VoteBatch
    per submitted boundary. `executor` overrides the one `config.executor` selects (tests, other hosts)."""

    def __init__(
        self,
        symbols: Sequence[str],
        config: SensorsConfig,
        on_votes: Callable[[VoteBatch], None],
        catalog: Sequence[SensorSpec] | None = None,
        *,
        executor: ShardExecutor | None = None,
        history_len: int = HISTORY_LEN,
    ) -> None:
        self.symbols = tuple(symbols)
        if not self.symbols:
            raise ValueError("SensorManager needs at least one symbol")
        self.catalog = tuple(CATALOG if catalog is None else catalog)
        check_catalog(self.catalog)
        self.sensor_names = tuple(spec.name for spec in self.catalog)
        self.sensor_timeframes = tuple(spec.timeframe for spec in self.catalog)
        self._columns = {tf: tuple(spec.name for spec in sensors_of(self.catalog, tf)) for tf in TIMEFRAMES}
        self._on_votes = on_votes
        self._executor = executor or executor_for(config)
        n = len(self.symbols)
        count = max(1, min(default_shards(config, n), n))
        # Round-robin by position: balanced shards, and a symbol always lands on the same one.
        self._shards = [
            _Shard(k, self.symbols[k::count], np.arange(k, n, count, dtype=np.intp)) for k in range(count)
        ]
        self._row = {sym: i for i, sym in enumerate(self.symbols)}
        self._saved = {tf: _SavedCandles(history_len, n) for tf in TIMEFRAMES}
        self._last_ms: dict[str, int] = {}
        self._last_close = {tf: np.full(n, np.nan) for tf in TIMEFRAMES}
        self._pending: deque[_Batch] = deque()
        self._flush_waiters: list[asyncio.Future[None]] = []
        self._logged_rules: set[str] = set()
        self._is_closing = False
        self.errors = 0

    # ------------------------------------------------------------------ queries

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def shard_of(self, symbol: str) -> int:
        return self._row[symbol] % len(self._shards)

    def is_degraded(self, symbol: str) -> bool:
        return self._shards[self.shard_of(symbol)].is_degraded

    def health(self) -> list[ShardHealth]:
        return [
            ShardHealth(
                shard=s.index,
                symbols=s.symbols,
                is_alive=s.state is ShardState.RUNNING and self._executor.is_alive(s.index),
                restarts=s.restarts,
                last_latency_ms=s.last_latency_ms,
                errors=s.errors,
            )
            for s in self._shards
        ]

    def worker_pid(self, shard: int) -> int | None:
        """The OS process hosting `shard` (None inline)."""
        return self._executor.pid(shard)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, history: Mapping[str, Mapping[str, Sequence[Candle]]] | None = None) -> None:
        """Start the shards and warm them with `history` ({timeframe: {symbol: candles oldest first}})."""
        # Aligning a long history is plain Python work: keep it off the loop.
        loop = asyncio.get_running_loop()
        aligned = await loop.run_in_executor(None, align_history, history or {}, self.symbols)
        for tf, rows in aligned.items():
            if len(rows.open_ms):
                self._saved[tf].extend(rows)
                self._last_ms[tf] = int(rows.open_ms[-1])
                self._last_close[tf] = _newest_finite(rows.ohlcv[:, 3, :])
        await asyncio.gather(*(self._executor.start(s.index, s.symbols, self.catalog) for s in self._shards))
        replies = [
            self._executor.call(
                s.index, "warm_arrays", {tf: _columns(rows, s.rows) for tf, rows in aligned.items()}
            )
            for s in self._shards
        ]
        for shard, reply in zip(self._shards, await asyncio.gather(*replies), strict=True):
            self._take_errors(shard, reply)
            shard.state = ShardState.RUNNING
        log.info(
            "sensors: %d sensors, %d symbols, %d shards",
            len(self.catalog),
            len(self.symbols),
            len(self._shards),
        )

    def publish_current(self) -> None:
        """Deliver each warmed timeframe's votes at its newest history candle, so the player (and its HTF
        filter) start informed instead of waiting up to an hour for the first 1h close."""
        n = len(self.symbols)
        for tf in self._columns:
            close_ms = self._last_ms.get(tf)
            if close_ms is None:
                continue
            batch = _Batch(
                tf, close_ms, n, len(self._columns[tf]), self._last_close[tf].copy(), len(self._shards)
            )
            self._pending.append(batch)
            sent_at = time.perf_counter()
            for shard in self._shards:
                if shard.state is not ShardState.RUNNING:
                    self._shard_done(batch, shard, degraded=True, deliver=False)
                    continue
                future = self._executor.call(shard.index, "vote_now", tf)
                future.add_done_callback(partial(self._on_reply, batch, shard, sent_at))
        if self._pending and self._pending[0].outstanding == 0:
            asyncio.get_running_loop().call_soon(self._deliver)

    async def flush(self) -> None:
        """Wait until every submitted batch has been delivered."""
        if self._pending:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._flush_waiters.append(waiter)
            await waiter

    async def stop(self) -> None:
        """Stop restarts and workers; batches still in flight are dropped."""
        self._is_closing = True
        tasks = [s.task for s in self._shards if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._executor.close()
        for shard in self._shards:
            shard.state = ShardState.STOPPED
        self._pending.clear()
        self._release_waiters()

    # ------------------------------------------------------------------ the batch path

    def submit(self, timeframe: str, close_ms: int, candles: Sequence[Candle]) -> None:
        """Hand over one boundary's closed candles (all symbols, one list); returns at once. The VoteBatch
        reaches `on_votes` on the loop once every shard has answered, in submission order."""
        if close_ms <= self._last_ms.get(timeframe, -1):
            log.warning(
                "sensors: %s boundary %d is not after %d; ignored",
                timeframe,
                close_ms,
                self._last_ms[timeframe],
            )
            return
        self._last_ms[timeframe] = close_ms
        ohlcv, present = boundary_arrays(candles, self._row)
        # The calls go out first: the shards compute while the loop does the bookkeeping below.
        sent_at = time.perf_counter()
        calls: list[tuple[_Shard, asyncio.Future[ShardReply] | None]] = []
        for shard in self._shards:
            future = None
            if shard.state in (ShardState.RUNNING, ShardState.WARMING):
                try:
                    args = (timeframe, close_ms, ohlcv[:, shard.rows], present[shard.rows])
                    future = self._executor.call(shard.index, "on_close", *args)
                except ShardCrashed as exc:
                    self._crashed(shard, exc)
            calls.append((shard, future))
        self._saved[timeframe].push(close_ms, ohlcv)
        last_close = self._last_close[timeframe]
        last_close[present] = ohlcv[3, present]
        n, k = len(self.symbols), len(self._columns[timeframe])
        batch = _Batch(timeframe, close_ms, n, k, last_close.copy(), len(calls))
        self._pending.append(batch)
        for shard, future in calls:
            if future is None:  # down, or found down just now
                self._shard_done(batch, shard, degraded=True, deliver=False)
            else:
                future.add_done_callback(partial(self._on_reply, batch, shard, sent_at))
        if batch.outstanding == 0:
            # Every shard is down: the batch is complete already, but on_votes never runs inside submit.
            asyncio.get_running_loop().call_soon(self._deliver)

    def _on_reply(
        self, batch: _Batch, shard: _Shard, sent_at: float, future: asyncio.Future[ShardReply]
    ) -> None:
        if self._is_closing:
            return
        try:
            reply = future.result()
        except ShardCrashed as exc:
            self._crashed(shard, exc)
            self._shard_done(batch, shard, degraded=True)
            return
        except ShardCallError as exc:
            self.errors += 1
            shard.errors += 1
            log.error("sensors: shard %d failed a %s close: %s", shard.index, batch.timeframe, exc)
            self._shard_done(batch, shard, degraded=True)
            return
        shard.last_latency_ms = (time.perf_counter() - sent_at) * 1000.0
        votes, strengths, trend = reply.result
        rows = shard.rows
        batch.votes[rows] = votes
        batch.strengths[rows] = strengths
        batch.trend[rows] = trend
        self._take_errors(shard, reply)
        self._shard_done(batch, shard, degraded=False)

    def _shard_done(self, batch: _Batch, shard: _Shard, degraded: bool, deliver: bool = True) -> None:
        if degraded:
            batch.degraded[shard.rows] = True
        batch.outstanding -= 1
        if deliver and batch.outstanding == 0 and self._pending and self._pending[0] is batch:
            self._deliver()

    def _deliver(self) -> None:
        # Only the oldest batch may go out: a later batch that finished first waits for it.
        while self._pending and self._pending[0].outstanding == 0:
            b = self._pending.popleft()
            vote_batch = VoteBatch(
                timeframe=b.timeframe,
                close_ms=b.close_ms,
                symbols=self.symbols,
                sensors=self._columns[b.timeframe],
                votes=b.votes,
                strengths=b.strengths,
                trend=b.trend,
                closes=b.closes,
                degraded=b.degraded,
            )
            try:
                self._on_votes(vote_batch)
            except Exception:
                log.exception("sensors: on_votes raised for the %s batch at %d", b.timeframe, b.close_ms)
        if not self._pending:
            self._release_waiters()

    def _release_waiters(self) -> None:
        waiters, self._flush_waiters = self._flush_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _take_errors(self, shard: _Shard, reply: ShardReply) -> None:
        if reply.errors:
            self.errors += reply.errors
            shard.errors += reply.errors
        for name, message in reply.new_errors:
            if name not in self._logged_rules:
                self._logged_rules.add(name)
                log.error("sensors: rule %s failed and votes 0 until it recovers: %s", name, message)

    # ------------------------------------------------------------------ crash recovery

    def _crashed(self, shard: _Shard, exc: BaseException) -> None:
        if self._is_closing or shard.state in (ShardState.RESTARTING, ShardState.WARMING):
            return  # the restart task in progress owns recovery
        log.error(
            "sensors: shard %d worker lost (%s); its %d symbols are degraded",
            shard.index,
            exc,
            len(shard.symbols),
        )
        shard.state = ShardState.RESTARTING
        shard.task = asyncio.get_running_loop().create_task(
            self._restart(shard), name=f"sensor-shard-{shard.index}"
        )

    async def _restart(self, shard: _Shard) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(_RESTART_BACKOFF_S[min(attempt, len(_RESTART_BACKOFF_S) - 1)])
            attempt += 1
            shard.state = ShardState.RESTARTING
            try:
                await self._executor.restart(shard.index)
                # Snapshot and send the warm in one step: later closes queue behind it on the shard's FIFO.
                warm = self._executor.call(shard.index, "warm_arrays", self._saved_history(shard))
                shard.state = ShardState.WARMING
                self._take_errors(shard, await warm)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("sensors: shard %d restart attempt %d failed: %s", shard.index, attempt, exc)
                continue
            shard.state = ShardState.RUNNING
            shard.restarts += 1
            shard.task = None
            log.info("sensors: shard %d restarted and re-warmed (restart %d)", shard.index, shard.restarts)
            return

    def _saved_history(self, shard: _Shard) -> dict[str, HistoryArrays]:
        return {tf: saved.for_columns(shard.rows) for tf, saved in self._saved.items() if saved.count}


def _newest_finite(values: np.ndarray) -> np.ndarray:
    """Per column of a (T, n) array, the newest finite value (NaN for a column without one)."""
    finite = np.isfinite(values)
    newest = len(values) - 1 - np.argmax(finite[::-1], axis=0)
    return np.where(finite.any(axis=0), values[newest, np.arange(values.shape[1])], np.nan)


def _columns(rows: HistoryArrays, columns: np.ndarray) -> HistoryArrays:
    return HistoryArrays(rows.open_ms, rows.ohlcv[:, :, columns])
