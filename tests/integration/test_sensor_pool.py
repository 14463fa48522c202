"""SensorManager on the real process pool: same votes as inline, SIGKILL recovery, and a free event loop."""

from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pytest

from casino_tui.config import SensorsConfig
from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle
from casino_tui.sensors.manager import SensorManager
from casino_tui.sensors.votes import VoteBatch

pytestmark = pytest.mark.timeout(60)

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"]
WARM = 150  # warm + submitted closes stay under the manager's 300-candle memory: re-warm replays all of it


def market(steps: int, n: int = len(SYMBOLS), seed: int = 23) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, (steps, n)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, (steps, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, (steps, n)))
    return np.stack([open_, high, low, close, rng.uniform(1, 20, (steps, n))], axis=1)


ROWS = market(WARM + 60)


def candles_at(t: int, tf: str) -> list[Candle]:
    ms = t * TIMEFRAME_MS[tf]
    return [Candle(sym, tf, ms, *map(float, ROWS[t, :, j])) for j, sym in enumerate(SYMBOLS)]


HISTORY = {
    tf: {sym: [candles_at(t, tf)[j] for t in range(WARM)] for j, sym in enumerate(SYMBOLS)}
    for tf in TIMEFRAMES
}


async def start(executor: str) -> tuple[SensorManager, list[VoteBatch]]:
    delivered: list[VoteBatch] = []
    manager = SensorManager(SYMBOLS, SensorsConfig(executor=executor, shards=2), delivered.append)
    await manager.start(HISTORY)
    return manager, delivered


def submit(manager: SensorManager, t: int) -> None:
    manager.submit("1m", t * 60_000, candles_at(t, "1m"))
    if t % 5 == 0:
        manager.submit("5m", t * 300_000, candles_at(t, "5m"))


async def wait_until(condition, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


def assert_same(got: VoteBatch, want: VoteBatch) -> None:
    assert (got.timeframe, got.close_ms) == (want.timeframe, want.close_ms)
    np.testing.assert_array_equal(got.votes, want.votes)
    np.testing.assert_array_equal(got.strengths, want.strengths)
    np.testing.assert_array_equal(got.trend, want.trend)
    np.testing.assert_array_equal(got.closes, want.closes)


@pytest.fixture
async def inline():
    manager, delivered = await start("inline")
    for t in range(WARM, WARM + 40):
        submit(manager, t)
    await manager.flush()
    await manager.stop()
    return delivered


async def test_pool_votes_equal_inline_votes(inline):
    pool, delivered = await start("pool")
    try:
        assert all(pool.worker_pid(k) not in (None, os.getpid()) for k in range(pool.shard_count))
        for t in range(WARM, WARM + 40):
            submit(pool, t)
        await pool.flush()
        assert len(delivered) == len(inline)
        for got, want in zip(delivered, inline, strict=True):
            assert not got.degraded.any()
            assert_same(got, want)
        assert all(h.is_alive and h.restarts == 0 for h in pool.health())
    finally:
        await pool.stop()


async def test_sigkilled_worker_degrades_its_symbols_then_is_restarted_and_votes_as_inline(inline):
    pool, delivered = await start("pool")
    try:
        for t in range(WARM, WARM + 10):
            submit(pool, t)
        await pool.flush()
        victim = 1
        victim_rows = np.array([pool.shard_of(s) == victim for s in SYMBOLS])
        old_pid = pool.worker_pid(victim)

        os.kill(old_pid, signal.SIGKILL)
        submit(pool, WARM + 10)  # in flight to a dead worker
        await pool.flush()
        crashed = delivered[-1]
        np.testing.assert_array_equal(crashed.degraded, victim_rows)
        assert not crashed.votes[victim_rows].any()
        healthy = ~victim_rows
        np.testing.assert_array_equal(crashed.votes[healthy], inline[len(delivered) - 1].votes[healthy])

        await wait_until(lambda: pool.health()[victim].restarts == 1 and pool.health()[victim].is_alive)
        assert pool.worker_pid(victim) != old_pid
        assert not any(pool.is_degraded(s) for s in SYMBOLS)
        done = len(delivered)
        for t in range(WARM + 11, WARM + 40):
            submit(pool, t)
        await pool.flush()
        for got, want in zip(delivered[done:], inline[done:], strict=True):
            assert not got.degraded.any()
            assert_same(got, want)
    finally:
        await pool.stop()


async def test_the_event_loop_keeps_running_while_the_pool_works():
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        before_start = ticks
        pool, delivered = await start("pool")
        assert ticks > before_start, "the loop was starved while workers started and warmed"
        pool.submit("1m", WARM * 60_000, candles_at(WARM, "1m"))
        assert delivered == []  # submit only sends; the answer comes back through the loop
        before_flush = ticks
        await pool.flush()
        assert len(delivered) == 1 and ticks > before_flush
        await pool.stop()
    finally:
        task.cancel()
