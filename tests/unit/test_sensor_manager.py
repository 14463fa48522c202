"""SensorManager with the inline executor: batches, ordering, sharding, rule errors and shard restarts."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from casino_tui.config import SensorsConfig
from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle
from casino_tui.sensors import catalog as cat
from casino_tui.sensors import indicators as ind
from casino_tui.sensors import manager as manager_module
from casino_tui.sensors.catalog import CATALOG, SensorSpec, sensors_of
from casino_tui.sensors.executors import InlineExecutor, ShardCrashed
from casino_tui.sensors.manager import SYMBOLS_PER_SHARD, SensorManager, default_shards
from casino_tui.sensors.shard import SensorShard
from casino_tui.sensors.votes import VoteBatch

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]
INLINE = SensorsConfig(executor="inline", shards=2)
WARM = 120


def market(steps: int, n: int = len(SYMBOLS), seed: int = 11) -> np.ndarray:
    """(steps, 5, n) random-walk candles."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, (steps, n)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, (steps, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, (steps, n)))
    return np.stack([open_, high, low, close, rng.uniform(1, 20, (steps, n))], axis=1)


def candles_at(rows: np.ndarray, t: int, tf: str, symbols=SYMBOLS) -> list[Candle]:
    ms = t * TIMEFRAME_MS[tf]
    return [Candle(sym, tf, ms, *map(float, rows[t, :, j])) for j, sym in enumerate(symbols)]


def history_of(rows: np.ndarray, steps: int = WARM) -> dict[str, dict[str, list[Candle]]]:
    return {
        tf: {
            sym: [c for t in range(steps) for c in candles_at(rows, t, tf) if c.symbol == sym]
            for sym in SYMBOLS
        }
        for tf in TIMEFRAMES
    }


async def wait_until(condition, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.005)


@pytest.fixture
def rows() -> np.ndarray:
    return market(WARM + 30)


async def started(rows, config=INLINE, **kwargs) -> tuple[SensorManager, list[VoteBatch]]:
    delivered: list[VoteBatch] = []
    manager = SensorManager(SYMBOLS, config, delivered.append, **kwargs)
    await manager.start(history_of(rows))
    return manager, delivered


async def test_one_submit_delivers_one_vote_batch_for_that_timeframe(rows):
    manager, delivered = await started(rows)
    manager.submit("1m", WARM * 60_000, candles_at(rows, WARM, "1m"))
    await manager.flush()
    (batch,) = delivered
    names = tuple(spec.name for spec in sensors_of(CATALOG, "1m"))
    assert (batch.timeframe, batch.close_ms, batch.symbols, batch.sensors) == (
        "1m",
        WARM * 60_000,
        tuple(SYMBOLS),
        names,
    )
    assert batch.votes.shape == batch.strengths.shape == (len(SYMBOLS), len(names))
    assert (
        batch.votes.dtype == np.int8 and batch.strengths.dtype == np.float32 and batch.trend.dtype == np.int8
    )
    np.testing.assert_array_equal(batch.closes, rows[WARM, 3])
    assert not batch.degraded.any() and np.count_nonzero(batch.votes) > 0
    assert manager.sensor_names == tuple(s.name for s in CATALOG)
    assert manager.sensor_timeframes == tuple(s.timeframe for s in CATALOG)
    await manager.stop()


async def test_rows_follow_the_symbol_order_whatever_the_sharding(rows):
    manager, delivered = await started(rows, SensorsConfig(executor="inline", shards=3))
    whole = SensorShard(SYMBOLS)
    whole.warm(history_of(rows))
    for t in range(WARM, WARM + 5):
        manager.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
    await manager.flush()
    for t, batch in zip(range(WARM, WARM + 5), delivered, strict=True):
        votes, strengths, trend = whole.on_close("1m", t * 60_000, rows[t], np.ones(len(SYMBOLS), bool))
        np.testing.assert_array_equal(batch.votes, votes)
        np.testing.assert_array_equal(batch.strengths, strengths)
        np.testing.assert_array_equal(batch.trend, trend)
    await manager.stop()


async def test_submit_returns_before_delivery_and_batches_arrive_in_submission_order(rows):
    manager, delivered = await started(rows)
    order = []
    for t in range(WARM, WARM + 3):
        for tf in TIMEFRAMES:
            manager.submit(tf, t * TIMEFRAME_MS[tf], candles_at(rows, t, tf))
            order.append((tf, t * TIMEFRAME_MS[tf]))
    assert delivered == []  # on_votes runs later, on the loop, never inside submit
    await manager.flush()
    assert [(b.timeframe, b.close_ms) for b in delivered] == order
    await manager.stop()


async def test_a_symbol_missing_from_a_boundary_keeps_its_last_close(rows):
    manager, delivered = await started(rows)
    candles = [c for c in candles_at(rows, WARM, "1m") if c.symbol != "ETHUSDT"]
    manager.submit("1m", WARM * 60_000, candles)
    await manager.flush()
    assert delivered[0].closes[1] == rows[WARM - 1, 3, 1]
    assert not delivered[0].degraded.any()
    await manager.stop()


async def test_a_boundary_not_after_the_last_one_is_ignored(rows, caplog):
    manager, delivered = await started(rows)
    with caplog.at_level(logging.WARNING, logger="casino.sensors"):
        manager.submit("1m", (WARM - 1) * 60_000, candles_at(rows, WARM - 1, "1m"))
    await manager.flush()
    assert delivered == [] and "not after" in caplog.text
    await manager.stop()


def test_shards_are_sticky_and_balanced():
    manager = SensorManager(SYMBOLS, SensorsConfig(executor="inline", shards=2), lambda b: None)
    assert [manager.shard_of(s) for s in SYMBOLS] == [0, 1, 0, 1, 0]
    assert manager.shard_count == 2
    assert SensorManager(SYMBOLS[:1], INLINE, lambda b: None).shard_count == 1  # no empty shards


def test_a_configured_shard_count_is_taken_as_given():
    assert default_shards(SensorsConfig(shards=3), symbols=10) == 3


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
def test_zero_shards_gives_a_few_hundred_symbols_one_shard_on_any_machine(monkeypatch, cores):
    monkeypatch.setattr(manager_module, "_cores", lambda: cores)
    assert default_shards(SensorsConfig(shards=0), symbols=50) == 1
    assert default_shards(SensorsConfig(shards=0), symbols=SYMBOLS_PER_SHARD) == 1


@pytest.mark.parametrize(
    ("cores", "symbols", "shards"), [(2, 500, 1), (3, 500, 2), (4, 600, 3), (16, 5000, 4)]
)
def test_zero_shards_leaves_one_core_to_the_event_loop_and_caps_at_four(monkeypatch, cores, symbols, shards):
    monkeypatch.setattr(manager_module, "_cores", lambda: cores)
    assert default_shards(SensorsConfig(shards=0), symbols=symbols) == shards


class ExplodingRule:
    def __call__(self, x):
        raise RuntimeError("bug in rule")


FAULTY = CATALOG + (
    SensorSpec("exploding_1m", "1m", (("rsi", ind.RsiState, {"period": 14}),), ExplodingRule(), "raises"),
)


async def test_a_raising_rule_is_logged_once_counted_and_votes_zero(rows, caplog):
    with caplog.at_level(logging.ERROR, logger="casino.sensors"):
        manager, delivered = await started(rows, catalog=FAULTY)
        for t in range(WARM, WARM + 3):
            manager.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
        await manager.flush()
    assert len(delivered) == 3
    column = delivered[0].sensors.index("exploding_1m")
    assert all(not b.votes[:, column].any() for b in delivered)
    assert all(np.count_nonzero(b.votes) > 0 for b in delivered)
    assert caplog.text.count("exploding_1m") == 1
    assert manager.errors == 3 * manager.shard_count  # once per close per shard
    assert sum(h.errors for h in manager.health()) == manager.errors
    await manager.stop()


async def test_an_exception_in_on_votes_does_not_stop_later_batches(rows, caplog):
    delivered = []

    def consumer(batch):
        delivered.append(batch)
        if len(delivered) == 1:
            raise ValueError("consumer bug")

    manager = SensorManager(SYMBOLS, INLINE, consumer)
    await manager.start(history_of(rows))
    with caplog.at_level(logging.ERROR, logger="casino.sensors"):
        manager.submit("1m", WARM * 60_000, candles_at(rows, WARM, "1m"))
        manager.submit("1m", (WARM + 1) * 60_000, candles_at(rows, WARM + 1, "1m"))
        await manager.flush()
    assert len(delivered) == 2 and "consumer bug" in caplog.text
    await manager.stop()


class KillableInline(InlineExecutor):
    """Inline executor whose shard can lose its host, like a killed worker process; restarts wait for
    `restart_gate` so a test can look at the manager while a shard is down."""

    def __init__(self) -> None:
        super().__init__()
        self.restart_gate = asyncio.Event()
        self.restart_gate.set()

    def kill(self, shard: int) -> None:
        self._shards.pop(shard)

    def call(self, shard, method, *args):
        if shard not in self._shards:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(ShardCrashed(f"shard {shard}: worker gone"))
            return future
        return super().call(shard, method, *args)

    async def restart(self, shard: int) -> None:
        await self.restart_gate.wait()
        await super().restart(shard)


def assert_same_votes(got: list[VoteBatch], want: list[VoteBatch]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert not g.degraded.any()
        np.testing.assert_array_equal(g.votes, w.votes)
        np.testing.assert_array_equal(g.strengths, w.strengths)
        np.testing.assert_array_equal(g.trend, w.trend)


async def test_a_lost_shard_is_degraded_then_restarted_rewarmed_and_votes_as_before(rows, caplog):
    executor = KillableInline()
    manager, delivered = await started(rows, executor=executor)
    reference, expected = await started(rows)
    victim = manager.shard_of("ETHUSDT")
    victim_rows = np.array([manager.shard_of(s) == victim for s in SYMBOLS])

    executor.kill(victim)
    with caplog.at_level(logging.ERROR, logger="casino.sensors"):
        manager.submit("1m", WARM * 60_000, candles_at(rows, WARM, "1m"))
        reference.submit("1m", WARM * 60_000, candles_at(rows, WARM, "1m"))
        await manager.flush()
    crashed = delivered[0]
    np.testing.assert_array_equal(crashed.degraded, victim_rows)
    assert not crashed.votes[victim_rows].any() and not crashed.trend[victim_rows].any()
    assert crashed.votes[~victim_rows].any()
    assert "worker lost" in caplog.text

    await wait_until(lambda: manager.health()[victim].restarts == 1 and manager.health()[victim].is_alive)
    assert not manager.is_degraded("ETHUSDT")
    for t in range(WARM + 1, WARM + 6):
        manager.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
        reference.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
    await manager.flush()
    await reference.flush()
    assert_same_votes(delivered[1:], expected[1:])
    await manager.stop()
    await reference.stop()


async def test_closes_submitted_while_a_shard_is_down_are_degraded_and_replayed_into_its_rewarm(rows):
    executor = KillableInline()
    manager, delivered = await started(rows, executor=executor)
    reference, expected = await started(rows)
    executor.restart_gate.clear()
    executor.kill(0)
    for t in range(WARM, WARM + 3):
        manager.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
        reference.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
        await manager.flush()
        assert manager.is_degraded(SYMBOLS[0]) and not manager.health()[0].is_alive
        assert not manager.is_degraded(SYMBOLS[1])
    assert all(b.degraded.tolist() == [True, False, True, False, True] for b in delivered)

    executor.restart_gate.set()
    await wait_until(lambda: not manager.is_degraded(SYMBOLS[0]))
    assert manager.health()[0].is_alive and manager.health()[0].restarts == 1
    for t in range(WARM + 3, WARM + 8):
        manager.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
        reference.submit("1m", t * 60_000, candles_at(rows, t, "1m"))
    await manager.flush()
    await reference.flush()
    assert_same_votes(delivered[3:], expected[3:])
    await manager.stop()
    await reference.stop()


def test_rule_contract_holds_for_a_custom_catalog():
    spec = SensorSpec(
        "lvl_1m", "1m", (("rsi", ind.RsiState, {"period": 2}),), cat.Level("rsi", 50, 0, 10), ""
    )
    manager = SensorManager(SYMBOLS, INLINE, lambda b: None, catalog=[spec])
    assert manager.sensor_names == ("lvl_1m",)


async def test_with_every_shard_down_batches_still_arrive_fully_degraded_and_never_inside_submit(rows):
    executor = KillableInline()
    manager, delivered = await started(rows, executor=executor)
    executor.restart_gate.clear()
    for shard in range(manager.shard_count):
        executor.kill(shard)
    manager.submit("1m", WARM * 60_000, candles_at(rows, WARM, "1m"))
    await manager.flush()
    manager.submit("1m", (WARM + 1) * 60_000, candles_at(rows, WARM + 1, "1m"))  # nothing is sent now
    assert len(delivered) == 1
    await manager.flush()
    assert len(delivered) == 2
    assert all(b.degraded.all() and not b.votes.any() and not b.strengths.any() for b in delivered)
    assert not any(h.is_alive for h in manager.health())
    await manager.stop()
