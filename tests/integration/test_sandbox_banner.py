"""`casino-tui sandbox` prints base URLs that work when pasted into `--rest-url` / `--ws-url`.

The sandbox runs as its own process, as a user starts it; its banner is read from the pipe, and the URLs it
names are given, as printed, to `casino-tui check` and to the native connector.
"""

from __future__ import annotations

import os
import queue
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_support import API_KEY, API_SECRET, Recorder, wait_for

from casino_tui.clock import WallClock
from casino_tui.config import ExchangeConfig
from casino_tui.exchange.binance.connector import BinanceExchange

PROCESS_DEADLINE_S = 60.0


class Banner:
    """What the sandbox printed before serving, and the flags of its `connect:` line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        connect = next(line for line in lines if "connect:" in line)
        words = shlex.split(connect.partition("connect:")[2])
        self.rest_url = words[words.index("--rest-url") + 1]
        self.ws_url = words[words.index("--ws-url") + 1]


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(tmp / "state"), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def banner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Banner]:
    """`casino-tui sandbox --port 0` in its own process; yields its banner once it serves."""
    tmp = tmp_path_factory.mktemp("sandbox")
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "sandbox", "--port", "0", "--symbols", "BTCUSDT,ETHUSDT"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
        env=_clean_env(tmp),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keep reading so the sandbox never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        seen: list[str] = []
        while not any("admin:" in line for line in seen):  # the banner's last line
            line = lines.get(timeout=PROCESS_DEADLINE_S)
            if line is None:
                raise AssertionError(f"sandbox exited before serving: {''.join(seen)}")
            seen.append(line)
        yield Banner(seen)
    finally:
        proc.terminate()
        try:
            proc.wait(PROCESS_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_banner_names_base_urls_without_paths(banner: Banner) -> None:
    assert banner.rest_url.startswith("http://127.0.0.1:") and banner.rest_url.count("/") == 2
    assert banner.ws_url == "ws://" + banner.rest_url.removeprefix("http://")
    assert f"REST {banner.rest_url}  WebSocket {banner.ws_url}" in banner.lines[0]


def test_check_passes_with_the_urls_pasted_from_the_banner(banner: Banner, tmp_path: Path) -> None:
    env = _clean_env(tmp_path) | {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "casino_tui.cli", "check", "--exchange", "binance"]
        + ["--rest-url", banner.rest_url, "--ws-url", banner.ws_url, "--symbols", "BTCUSDT,ETHUSDT"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=PROCESS_DEADLINE_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout


async def test_connector_streams_from_the_urls_pasted_from_the_banner(banner: Banner) -> None:
    config = ExchangeConfig(name="binance", rest_url=banner.rest_url, ws_url=banner.ws_url)
    exchange = BinanceExchange(config, API_KEY, API_SECRET, WallClock(), testnet=False)
    recorder = Recorder()
    exchange.set_sinks(recorder, recorder)
    await exchange.start(["BTCUSDT"])  # mints a listenKey and opens the market and user sockets
    try:
        await wait_for(lambda: recorder.trades, "a trade on the market stream")
        await wait_for(lambda: any(s[:2] == ("user", True) for s in recorder.statuses), "the user stream")
    finally:
        await exchange.stop()
