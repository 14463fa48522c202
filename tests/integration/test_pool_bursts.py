"""The process pool answers a burst of calls in one frame: calls that queued up while the worker computed
come back together (one wake-up of the loop), a lone call is answered at once, and one failing call in a
burst fails alone."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

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


async def test_a_long_queue_is_answered_in_frames_of_at_most_sixteen(pool):
    with worker_paused(pool):
        calls = [pool.call(0, "sensor_names", TIMEFRAMES[i % 4]) for i in range(40)]
    replies = await asyncio.wait_for(asyncio.gather(*calls), 30)
    assert [reply.result for reply in replies] == [NAMES[TIMEFRAMES[i % 4]] for i in range(40)]
    assert pool.frames_received(0) == 3


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
