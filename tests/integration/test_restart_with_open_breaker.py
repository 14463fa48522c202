"""A restart while a circuit breaker the last run saved OPEN is still cooling down: start-up waits the cooldown
out (and says so) instead of crashing, and a stop asked for meanwhile ends it cleanly.

The Runtime runs over the native connector against the in-process sandbox, on a ManualClock the test moves
(the breaker's cooldown is measured on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from connector_support import API_KEY, API_SECRET

from casino_tui.clock import ManualClock
from casino_tui.config import Config, ExchangeConfig, PlayerConfig, RuntimeConfig, SensorsConfig
from casino_tui.engine.state import PersistedState
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.binance.rest import EndpointGroup
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.paths import state_paths
from casino_tui.port import BreakerStatus
from casino_tui.runtime import Runtime
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.storage import SnapshotStore

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
DEADLINE_S = 20.0
COOLDOWN_S = 30.0


@dataclass
class Restart:
    sandbox: SandboxServer
    runtime: Runtime
    exchange: BinanceExchange
    clock: ManualClock
    task: asyncio.Task[None]


async def poll(condition: Callable[[], object], what: str) -> None:
    """Wait until `condition()` is truthy, looking every couple of milliseconds; fail after the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {DEADLINE_S:g}s waiting for {what}")
        await asyncio.sleep(0.002)


def save_open_breaker(state_dir: Path, group: EndpointGroup) -> None:
    """What the previous run's last snapshot held: `group`'s breaker OPEN with COOLDOWN_S still to go."""
    paths = state_paths(state_dir, "binance").ensure()
    saved = {group.value: {"state": "OPEN", "reason": "RetriableError 503", "cooldown_s": COOLDOWN_S}}
    SnapshotStore(paths.snapshots).save(PersistedState(saved_ms=1, breakers=saved))


@contextlib.asynccontextmanager
async def restarted(state_dir: Path) -> AsyncIterator[Restart]:
    clock = ManualClock()
    async with running_sandbox(symbols=SYMBOLS, clock=clock, seed=7) as sandbox:
        config = Config(
            symbols=list(SYMBOLS),
            exchange=ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url),
            sensors=SensorsConfig(executor="inline", shards=1),
            player=PlayerConfig(htf_filter=False),
            runtime=RuntimeConfig(state_dir=str(state_dir)),
        )
        exchange = BinanceExchange(config.exchange, API_KEY, API_SECRET, clock, testnet=False, seed=11)
        paths = state_paths(state_dir, "binance").ensure()
        runtime = Runtime(config, paths=paths, exchange=exchange, clock=clock, use_timers=False)
        task = asyncio.create_task(runtime.run(), name="runtime")
        try:
            yield Restart(sandbox, runtime, exchange, clock, task)
        finally:
            runtime.request_stop()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE_S)


def said_it_waits(caplog: pytest.LogCaptureFixture, group: EndpointGroup) -> bool:
    return any(
        f"{group.value} breaker is OPEN" in r.getMessage() and "for its cooldown" in r.getMessage()
        for r in caplog.records
    )


def breaker_status(exchange: BinanceExchange, group: EndpointGroup) -> BreakerStatus:
    return exchange.breakers[group].snapshot().state


@pytest.mark.parametrize("group", [EndpointGroup.ACCOUNT, EndpointGroup.MARKET, EndpointGroup.USER_STREAM])
async def test_start_up_waits_out_a_restored_open_breaker_then_runs(
    tmp_path: Path, group: EndpointGroup, caplog: pytest.LogCaptureFixture
) -> None:
    save_open_breaker(tmp_path, group)
    caplog.set_level(logging.WARNING, logger="casino")
    async with restarted(tmp_path) as s:
        await poll(
            lambda: s.task.done() or said_it_waits(caplog, group),
            "start-up to say it waits for the breaker",
        )
        assert not s.task.done(), f"start-up must wait, not end: {s.task}"
        assert s.runtime.status is not RuntimeStatus.RUNNING
        assert breaker_status(s.exchange, group) is BreakerStatus.OPEN

        s.clock.advance(int(COOLDOWN_S * 1000))
        await poll(
            lambda: s.runtime.status is RuntimeStatus.RUNNING or s.task.done(), "the runtime to be ready"
        )

        assert not s.task.done(), f"the runtime ended: {s.task}"
        assert s.runtime.status is RuntimeStatus.RUNNING
        assert s.runtime.snapshot().header.equity > 0, "the balance was read once the breaker let it through"
        assert breaker_status(s.exchange, group) is BreakerStatus.CLOSED


async def test_a_stop_while_start_up_waits_for_a_breaker_ends_the_run_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_open_breaker(tmp_path, EndpointGroup.ACCOUNT)
    caplog.set_level(logging.WARNING, logger="casino")
    async with restarted(tmp_path) as s:
        await poll(
            lambda: s.task.done() or said_it_waits(caplog, EndpointGroup.ACCOUNT),
            "start-up to say it waits for the breaker",
        )
        s.runtime.request_stop()
        await asyncio.wait_for(asyncio.shield(s.task), DEADLINE_S)

        assert s.task.exception() is None
        assert s.runtime.status is RuntimeStatus.STOPPED
        assert s.runtime.exit_code == 0
