"""Secrets never reach a log, a snapshot, a report or an exception message: the API key, the secret and every
listenKey the session minted are absent from everything the engine writes, against the sandbox.

The first test starts the Runtime in-process and logs the exact values through the session's handlers (the
runtime must have registered them, the listenKey as it was minted). The second runs `casino-tui sandbox`
and `casino-tui --headless` as processes, trades, forces a new listenKey and errors, sweeps and stops, then
searches every file of the state directory and the engine's output.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from casino_tui.clock import ManualClock
from casino_tui.config import Config, ExchangeConfig, RuntimeConfig, SensorsConfig
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.paths import state_paths
from casino_tui.runtime import Runtime
from casino_tui.sandbox import running_sandbox
from casino_tui.sandbox.serve import BANNER_BASE_URL
from casino_tui.sandbox.venue import SandboxSettings

API_KEY = "Kx7Qw2LpZr9VbN4mT8sYcD1fG6hJ3kA5eR0uI2oP7qW9zX4vB6nM8lK1jH3gF5dS"
SECRET = "Sq9Wm3Ez7Rt1Yu5Io8Pa2Sd6Fg0Hj4Kl9Zx3Cv7Bn1Mq5Wl8Er2Ty6Ui0Op4As7Dx"
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
DEADLINE_S = 60.0
_SANDBOX_LINE = BANNER_BASE_URL

# Quick decisions, so brackets (signed order requests, algo orders) happen within seconds at sandbox speed 60.
CONFIG_TOML = """\
symbols = ["BTCUSDT", "ETHUSDT"]

[sensors]
executor = "inline"

[player]
threshold = 0.05
debounce = 1
htf_filter = false
cooldown_s = 0

[trading]
notional_usdt = 200.0
max_positions = 2

[runtime]
snapshot_interval_s = 1
"""


def leaks(text: str | bytes, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets found in `text`."""
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in secrets.items() if value.encode() in data]


async def test_runtime_hides_the_key_the_secret_and_the_listen_key_it_minted_in_every_log(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    settings = SandboxSettings(api_key=API_KEY, api_secret=SECRET)
    async with running_sandbox(symbols=SYMBOLS, clock=clock, settings=settings) as sandbox:
        config = Config(
            symbols=list(SYMBOLS),
            exchange=ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url),
            sensors=SensorsConfig(executor="inline", shards=1),
            runtime=RuntimeConfig(state_dir=str(tmp_path)),
        )
        paths = state_paths(tmp_path, "binance").ensure()
        logs = LogSetup(paths.log_file, stdout=False)
        exchange = BinanceExchange(config.exchange, API_KEY, SECRET, clock, testnet=False, seed=1)
        runtime = Runtime(
            config, paths=paths, exchange=exchange, clock=clock, log_setup=logs, use_timers=False
        )
        task = asyncio.create_task(runtime.run())
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + DEADLINE_S
            while runtime.status != "RUNNING" and not task.done() and loop.time() < end:
                await asyncio.sleep(0.005)
            assert runtime.status == "RUNNING", f"runtime not ready: {runtime.status}"
            assert exchange.user is not None and exchange.user.listen_key, "no listenKey was minted"
            secrets = {"api key": API_KEY, "secret": SECRET, "listenKey": exchange.user.listen_key}

            logging.getLogger("casino.runtime").error(
                "a careless message: key=%s secret=%s stream on %s", API_KEY, SECRET, exchange.user.listen_key
            )
            pane = "\n".join(line.message for line in runtime.snapshot().logs)
            assert "a careless message: key=*** secret=*** stream on ***" in pane, pane
        finally:
            runtime.request_stop()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE_S)
            logs.close()
    log_text = paths.log_file.read_text(encoding="utf-8")
    assert "a careless message" in log_text
    assert not leaks(log_text, secrets), leaks(log_text, secrets)


# -- separate processes --------------------------------------------------------------------------------


class Lines:
    """A process's stdout read by a thread (so the process never blocks on a full pipe), waited on by text."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, deadline_s: float = DEADLINE_S) -> re.Match[str]:
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"{pattern!r} never appeared; output:\n{''.join(self.seen[-60:])}")

    def rest(self) -> str:
        """Everything after what was waited for, once the process has ended."""
        while (line := self._queue.get(timeout=DEADLINE_S)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    """`casino-tui sandbox` at 60x speed that accepts only API_KEY signed with SECRET."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "sandbox", "--port", "0", "--speed", "60"]
        + ["--symbols", ",".join(SYMBOLS), "--api-key", API_KEY, "--api-secret", SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
    )
    try:
        yield Lines(proc).wait_for(_SANDBOX_LINE.pattern).group(1)
    finally:
        _stop(proc)


def _listen_key(http: httpx.Client) -> str:
    """The account's active listenKey: Binance (and the sandbox) answer POST with the live one, extended."""
    response = http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})
    response.raise_for_status()
    return str(response.json()["listenKey"])


@pytest.mark.timeout(240)
def test_a_session_against_the_sandbox_writes_no_key_secret_or_listen_key_anywhere(
    sandbox_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "casino.toml"
    config.write_text(CONFIG_TOML)
    state = tmp_path / "state"
    engine = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--config", str(config)]
        + [
            "--exchange",
            "binance",
            "--rest-url",
            sandbox_url,
            "--ws-url",
            sandbox_url.replace("http", "ws", 1),
        ]
        + ["--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, BINANCE_API_KEY=API_KEY, BINANCE_API_SECRET=SECRET),
    )
    lines = Lines(engine)
    try:
        with httpx.Client(base_url=sandbox_url, timeout=10.0) as http:
            lines.wait_for(r"ready: ")
            lines.wait_for(r"-> PROTECTED")
            listen_keys = {_listen_key(http)}
            # A new listenKey, dropped sockets and failed order sends: every path that reports errors.
            faults = {"expire_listen_key": True, "drop_sockets": True, "service_unavailable": 3}
            http.post("/__admin__/faults", json=faults).raise_for_status()
            lines.wait_for(r"stream user disconnected")
            lines.wait_for(r"stream user connected")
            listen_keys.add(_listen_key(http))
        engine.send_signal(signal.SIGUSR2)
        lines.wait_for(r"sweep: ")
        engine.send_signal(signal.SIGTERM)
        stderr = engine.communicate(timeout=DEADLINE_S)[1]
    finally:
        _stop(engine)
    stdout = lines.rest()

    assert engine.returncode == 0, f"exit {engine.returncode}\n{stdout[-3000:]}\n{stderr}"
    assert len(listen_keys) == 2, "the fault should have made the engine mint a second listenKey"
    secrets = {"api key": API_KEY, "secret": SECRET}
    secrets.update({f"listenKey {key[:6]}…": key for key in listen_keys})
    written = {path: path.read_bytes() for path in state.rglob("*") if path.is_file()}
    kinds = {path.parent.name for path in written}
    assert {"logs", "snapshots", "reports"} <= kinds, (
        f"the session wrote too little to check: {sorted(written)}"
    )
    log_text = b"".join(data for path, data in written.items() if path.parent.name == "logs")
    assert b"-> PROTECTED" in log_text and b"stream user disconnected" in log_text
    found = {str(path.relative_to(state)): leaks(data, secrets) for path, data in written.items()}
    assert not any(found.values()), {path: names for path, names in found.items() if names}
    assert not leaks(stdout, secrets), leaks(stdout, secrets)
    assert not leaks(stderr, secrets), leaks(stderr, secrets)
