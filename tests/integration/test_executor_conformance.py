"""Every ShardExecutor keeps the same contract — start, calls in submission order, a lost host failing its
calls with ShardCrashed, restart to an empty shard, close — and the SensorManager gets identical votes for
the same candles on each of them. One local Ray serves the whole module (its start-up costs seconds)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np
import pytest

from casino_tui.config import SensorsConfig
from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle
from casino_tui.sensors.catalog import CATALOG, sensors_of
from casino_tui.sensors.executors import (
    InlineExecutor,
    ProcessShardExecutor,
    ShardCallError,
    ShardCrashed,
    ShardExecutor,
)
from casino_tui.sensors.manager import SensorManager
from casino_tui.sensors.ray_executor import LOCAL, RaySession, RayShardExecutor, ray_installed
from casino_tui.sensors.shard import HistoryArrays, SensorShard
from casino_tui.sensors.votes import VoteBatch

pytestmark = pytest.mark.timeout(180)

EXECUTORS = ("inline", "pool", "ray")
HOSTED = ("pool", "ray")  # executors whose shards live in a process that can die
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"]
SHARD_SYMBOLS = tuple(SYMBOLS[::2])
WARM = 150  # warm + submitted closes stay under the manager's 300-candle memory: a re-warm replays all
CLOSES = 24


def market(steps: int, n: int = len(SYMBOLS), seed: int = 31) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, (steps, n)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, (steps, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, (steps, n)))
    return np.stack([open_, high, low, close, rng.uniform(1, 20, (steps, n))], axis=1)


ROWS = market(WARM + CLOSES + 1)


def candles_at(t: int, tf: str) -> list[Candle]:
    ms = t * TIMEFRAME_MS[tf]
    return [Candle(sym, tf, ms, *map(float, ROWS[t, :, j])) for j, sym in enumerate(SYMBOLS)]


HISTORY = {
    tf: {sym: [candles_at(t, tf)[j] for t in range(WARM)] for j, sym in enumerate(SYMBOLS)}
    for tf in TIMEFRAMES
}


def shard_history() -> dict[str, HistoryArrays]:
    """The first WARM candles of the even-numbered symbols, as a shard takes them."""
    ms = np.arange(WARM, dtype=np.int64) * TIMEFRAME_MS["1m"]
    return {"1m": HistoryArrays(ms, ROWS[:WARM, :, ::2].copy())}


def shard_close(t: int) -> tuple[str, int, np.ndarray, np.ndarray]:
    return "1m", t * TIMEFRAME_MS["1m"], ROWS[t, :, ::2].copy(), np.ones(len(SHARD_SYMBOLS), dtype=bool)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie child of ours is gone for every purpose here
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


@pytest.fixture(scope="module")
def ray_session() -> Iterator[RaySession]:
    if not ray_installed():
        pytest.skip("Ray is not installed (pip install -e '.[ray]')")
    # Room for every shard these tests start at once, plus replacements whose CPUs are not yet freed.
    session = RaySession(LOCAL, num_cpus=6)  # connected by the first executor that starts a shard
    yield session
    asyncio.run(session.shutdown())


@pytest.fixture
def make_executor(request: pytest.FixtureRequest) -> Callable[[str], ShardExecutor]:
    def make(kind: str) -> ShardExecutor:
        if kind == "inline":
            return InlineExecutor()
        if kind == "pool":
            return ProcessShardExecutor()
        return RayShardExecutor(request.getfixturevalue("ray_session"), owns_session=False)

    return make


@pytest.fixture(params=EXECUTORS)
async def executor(request, make_executor) -> AsyncIterator[ShardExecutor]:
    host = make_executor(request.param)
    await host.start(0, SHARD_SYMBOLS, CATALOG)
    yield host
    await host.close()


@pytest.fixture(params=HOSTED)
async def hosted(request, make_executor) -> AsyncIterator[ShardExecutor]:
    host = make_executor(request.param)
    await host.start(0, SHARD_SYMBOLS, CATALOG)
    yield host
    await host.close()


def expected_closes(count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    shard = SensorShard(SHARD_SYMBOLS, CATALOG)
    shard.warm_arrays(shard_history())
    return [shard.on_close(*shard_close(t)) for t in range(WARM, WARM + count)]


def assert_same_votes(got, want) -> None:
    for got_part, want_part in zip(got, want, strict=True):
        np.testing.assert_array_equal(got_part, want_part)


# ------------------------------------------------------------------ the ShardExecutor contract


async def test_a_started_shard_is_alive_and_answers_with_its_sensor_names(executor):
    reply = await executor.call(0, "sensor_names", "1m")
    assert executor.is_alive(0)
    assert reply.result == tuple(spec.name for spec in sensors_of(CATALOG, "1m"))
    assert reply.errors == 0


async def test_calls_to_one_shard_run_in_submission_order(executor):
    # Each close advances the shard's state: run out of order, the votes would differ from a local shard's.
    warm = executor.call(0, "warm_arrays", shard_history())
    closes = [executor.call(0, "on_close", *shard_close(t)) for t in range(WARM, WARM + CLOSES)]
    await warm
    replies = await asyncio.gather(*closes)
    for reply, want in zip(replies, expected_closes(CLOSES), strict=True):
        assert_same_votes(reply.result, want)


async def test_a_call_the_shard_rejects_fails_with_ShardCallError_and_the_shard_lives_on(executor):
    with pytest.raises(ShardCallError, match="not a shard call"):
        await executor.call(0, "reset_everything")
    assert executor.is_alive(0)
    assert (await executor.call(0, "sensor_names", "5m")).result


async def test_a_call_to_a_shard_never_started_raises_ShardCrashed_at_once(executor):
    with pytest.raises(ShardCrashed):
        executor.call(7, "sensor_names", "1m")


async def test_a_killed_host_fails_the_call_in_flight_with_ShardCrashed_then_refuses_calls(hosted):
    await hosted.call(0, "warm_arrays", shard_history())
    pid = hosted.pid(0)
    assert pid is not None and pid != os.getpid()

    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ShardCrashed):
        await hosted.call(0, "on_close", *shard_close(WARM))
    await wait_until(lambda: not hosted.is_alive(0))
    with pytest.raises(ShardCrashed):
        hosted.call(0, "sensor_names", "1m")


async def test_restart_replaces_a_killed_host_with_an_empty_shard(hosted):
    await hosted.call(0, "warm_arrays", shard_history())
    old_pid = hosted.pid(0)
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    with pytest.raises(ShardCrashed):
        await hosted.call(0, "on_close", *shard_close(WARM))

    await hosted.restart(0)

    assert hosted.is_alive(0) and hosted.pid(0) not in (None, old_pid)
    votes, _, trend = (await hosted.call(0, "vote_now", "1m")).result
    assert not votes.any() and not trend.any(), "a fresh shard has no candles, so no votes"
    await hosted.call(0, "warm_arrays", shard_history())
    reply = await hosted.call(0, "on_close", *shard_close(WARM))
    assert_same_votes(reply.result, expected_closes(1)[0])


async def test_restart_of_a_live_shard_forgets_its_state(executor):
    await executor.call(0, "warm_arrays", shard_history())
    votes_before, _, _ = (await executor.call(0, "vote_now", "1m")).result
    assert votes_before.any()

    await executor.restart(0)

    votes_after, _, _ = (await executor.call(0, "vote_now", "1m")).result
    assert executor.is_alive(0) and not votes_after.any()


@pytest.mark.parametrize("kind", EXECUTORS)
async def test_close_stops_every_shard_and_refuses_calls(kind, make_executor):
    host = make_executor(kind)
    await asyncio.gather(*(host.start(k, SYMBOLS[k::2], CATALOG) for k in range(2)))
    pids = [host.pid(k) for k in range(2)]

    await host.close()

    for k in range(2):
        assert not host.is_alive(k)
        with pytest.raises(ShardCrashed):
            host.call(k, "sensor_names", "1m")
    for pid in pids:
        if pid is not None:
            await wait_until(lambda pid=pid: process_gone(pid))


# ------------------------------------------------------------------ the manager on every executor


async def run_manager(executor: ShardExecutor, steps: range) -> tuple[SensorManager, list[VoteBatch]]:
    delivered: list[VoteBatch] = []
    manager = SensorManager(SYMBOLS, SensorsConfig(shards=2), delivered.append, executor=executor)
    await manager.start(HISTORY)
    submit_all(manager, steps)
    await manager.flush()
    return manager, delivered


def submit_all(manager: SensorManager, steps: range) -> None:
    for t in steps:
        manager.submit("1m", t * 60_000, candles_at(t, "1m"))
        if t % 5 == 0:
            manager.submit("5m", t * 300_000, candles_at(t, "5m"))


def assert_batches_equal(got: list[VoteBatch], want: list[VoteBatch]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.timeframe, g.close_ms) == (w.timeframe, w.close_ms)
        assert not g.degraded.any()
        np.testing.assert_array_equal(g.votes, w.votes)
        np.testing.assert_array_equal(g.strengths, w.strengths)
        np.testing.assert_array_equal(g.trend, w.trend)


@pytest.fixture(scope="module")
def inline_batches() -> list[VoteBatch]:
    async def run() -> list[VoteBatch]:
        manager, delivered = await run_manager(InlineExecutor(), range(WARM, WARM + CLOSES))
        await manager.stop()
        return delivered

    return asyncio.run(run())


@pytest.mark.parametrize("kind", HOSTED)
async def test_the_manager_gets_the_same_votes_on_every_executor_as_inline(
    kind, make_executor, inline_batches
):
    manager, delivered = await run_manager(make_executor(kind), range(WARM, WARM + CLOSES))
    try:
        assert_batches_equal(delivered, inline_batches)
        assert all(h.is_alive and h.restarts == 0 for h in manager.health())
    finally:
        await manager.stop()


@pytest.mark.parametrize("how", ["ray.kill", "SIGKILL"])
async def test_a_ray_actor_killed_mid_run_is_restarted_and_rewarmed_then_votes_as_inline(
    how, make_executor, inline_batches
):
    import ray

    executor = make_executor("ray")
    assert isinstance(executor, RayShardExecutor)
    manager, delivered = await run_manager(executor, range(WARM, WARM + 8))
    try:
        victim = 1
        victim_rows = np.array([manager.shard_of(s) == victim for s in SYMBOLS])
        old_pid = manager.worker_pid(victim)
        assert old_pid is not None

        if how == "ray.kill":
            ray.kill(executor._actors[victim].handle, no_restart=True)
        else:
            os.kill(old_pid, signal.SIGKILL)
        submit_all(manager, range(WARM + 8, WARM + 9))  # in flight to a dead actor
        await manager.flush()
        lost = delivered[-1]
        np.testing.assert_array_equal(lost.degraded, victim_rows)
        assert not lost.votes[victim_rows].any()
        healthy = ~victim_rows
        np.testing.assert_array_equal(lost.votes[healthy], inline_batches[len(delivered) - 1].votes[healthy])

        await wait_until(lambda: manager.health()[victim].restarts == 1 and manager.health()[victim].is_alive)
        assert manager.worker_pid(victim) not in (None, old_pid)
        assert not any(manager.is_degraded(s) for s in SYMBOLS)
        done = len(delivered)
        submit_all(manager, range(WARM + 9, WARM + CLOSES))
        await manager.flush()
        assert_batches_equal(delivered[done:], inline_batches[done:])
    finally:
        await manager.stop()
