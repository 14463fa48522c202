"""The process pool answers a burst of calls in one frame: small answers to calls that queued up while the
worker computed come back together (one wake-up of the loop), a lone call or a large answer goes back at
once, and one failing call in a burst fails alone."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from casino_tui.model import TIMEFRAMES
from casino_tui.sensors.catalog import CATALOG
from casino_tui.sensors.executors import ProcessShardExecutor, ShardCallError
from casino_tui.sensors.shard import SensorShard

pytestmark = pytest.mark.timeout(60)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
NAMES = {tf: SensorShard(SYMBOLS).sensor_names(tf) for tf in TIMEFRAMES}


@pytest.fixture
async def pool() -> AsyncIterator[ProcessShardExecutor]:
    executor = ProcessShardExecutor()
    await executor.start(0, SYMBOLS, CATALOG)
    try:
        yield executor
    finally:
        await executor.close()


@contextmanager
def worker_paused(pool: ProcessShardExecutor) -> Iterator[None]:
    """Stop the worker so that every call sent meanwhile is queued before it reads the first one."""
    pid = pool.pid(0)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_calls_queued_while_the_worker_is_busy_are_answered_in_one_frame(pool):
    with worker_paused(pool):
        calls = [pool.call(0, "sensor_names", tf) for tf in TIMEFRAMES]
    replies = await asyncio.wait_for(asyncio.gather(*calls), 30)
    assert [reply.result for reply in replies] == [NAMES[tf] for tf in TIMEFRAMES]
    assert pool.frames_received(0) == 1


async def test_a_lone_call_is_answered_without_waiting_for_the_next(pool):
    for tf in TIMEFRAMES:
        reply = await asyncio.wait_for(pool.call(0, "sensor_names", tf), 30)
        assert reply.result == NAMES[tf]
    assert pool.frames_received(0) == len(TIMEFRAMES)


async def test_large_answers_go_back_at_once_while_calls_queue_behind_them():
    symbols = [f"SYM{i:03d}USDT" for i in range(500)]  # a 1m close's votes for 500 symbols: ~75 KB
    executor = ProcessShardExecutor()
    await executor.start(0, symbols, CATALOG)
    try:
        present = np.ones(len(symbols), dtype=bool)
        with worker_paused(executor):
            calls = [
                executor.call(0, "on_close", "1m", t * 60_000, np.full((5, len(symbols)), 100.0 + t), present)
                for t in range(3)
            ]
        replies = await asyncio.wait_for(asyncio.gather(*calls), 30)
        assert all(reply.result[0].shape == (len(symbols), len(NAMES["1m"])) for reply in replies)
        assert executor.frames_received(0) == 3
    finally:
        await executor.close()


async def test_a_failing_call_in_a_burst_fails_alone(pool):
    with worker_paused(pool):
        before = pool.call(0, "sensor_names", "1m")
        failing = pool.call(0, "sensor_names", "2m")  # no such timeframe: the shard raises KeyError
        after = pool.call(0, "sensor_names", "1h")
    assert (await asyncio.wait_for(before, 30)).result == NAMES["1m"]
    with pytest.raises(ShardCallError, match="KeyError"):
        await asyncio.wait_for(failing, 30)
    assert (await asyncio.wait_for(after, 30)).result == NAMES["1h"]
    assert pool.frames_received(0) == 1
