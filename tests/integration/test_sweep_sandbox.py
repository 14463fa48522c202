"""A sweep against the sandbox over real sockets: `casino-tui sandbox` and `casino-tui --headless` as two
processes; the sandbox's own state (not the engine's word) says whether the account ended flat."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from connector_support import API_KEY, API_SECRET

from casino_tui.sandbox.serve import BANNER_BASE_URL

SYMBOLS = ("BTCUSDT", "ETHUSDT")
HELD = {"BTCUSDT": 0.004, "ETHUSDT": -0.1}
DEADLINE_S = 90.0
_SANDBOX_LINE = BANNER_BASE_URL


def _clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(tmp / "state"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Lines:
    """A process's stdout read on a thread, so neither side blocks; `wait_for` a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, match: Callable[[str], Any], deadline_s: float = DEADLINE_S) -> Any:
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if found := match(line):
                return found
        raise AssertionError("never seen; output:\n" + "".join(self.seen[-60:]))

    def rest(self) -> list[str]:
        while (line := self._queue.get(timeout=DEADLINE_S)) is not None:
            self.seen.append(line)
        return self.seen


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[httpx.Client]:
    """`casino-tui sandbox --port 0` in its own process; an httpx client on its base URL."""
    args = [sys.executable, "-m", "casino_tui.cli", "sandbox", "--port", "0", "--symbols", ",".join(SYMBOLS)]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
    )
    try:
        lines = Lines(proc)
        match = lines.wait_for(_SANDBOX_LINE.search)
        with httpx.Client(base_url=match.group(1), timeout=10.0) as client:
            yield client
    finally:
        _stop(proc)


def _state(sandbox: httpx.Client) -> dict[str, Any]:
    response = sandbox.get("/__admin__/state")
    response.raise_for_status()
    return response.json()


def _wait_state(
    sandbox: httpx.Client, condition: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        state = _state(sandbox)
        if condition(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"the sandbox never showed {what}: {_state(sandbox)}")


def _protected(state: dict[str, Any]) -> bool:
    stops = {(o["symbol"], o["side"]) for o in state["open_algo_orders"] if o["type"] == "STOP_MARKET"}
    held = {p["symbol"]: p["qty"] for p in state["positions"] if p["qty"]}
    return set(held) == set(HELD) and all((s, "SELL" if q > 0 else "BUY") in stops for s, q in held.items())


def _start_engine(sandbox: httpx.Client, tmp_path: Path) -> subprocess.Popen[str]:
    """`casino-tui --headless --exchange binance` against the sandbox; it does not trade on its own."""
    base = str(sandbox.base_url).rstrip("/")
    env = _clean_env(
        tmp_path,
        BINANCE_API_KEY=API_KEY,
        BINANCE_API_SECRET=API_SECRET,
        CASINO_SENSORS_EXECUTOR="inline",
        CASINO_PLAYER_THRESHOLD="0.95",  # the sweep and the exit, not trading, are under test
    )
    args = [sys.executable, "-m", "casino_tui.cli", "--headless", "--exchange", "binance"]
    args += ["--rest-url", base, "--ws-url", "ws://" + base.removeprefix("http://")]
    args += ["--symbols", ",".join(SYMBOLS), "--state-dir", str(tmp_path / "engine")]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _inject(sandbox: httpx.Client, symbol: str, qty: float) -> None:
    price = float(sandbox.get("/fapi/v1/ticker/price", params={"symbol": symbol}).json()["price"])
    response = sandbox.post(
        "/__admin__/inject_position", json={"symbol": symbol, "qty": qty, "entry_price": price}
    )
    response.raise_for_status()


@pytest.mark.timeout(240)
def test_sigusr2_then_sigterm_leaves_the_sandbox_flat_with_no_orders(
    sandbox: httpx.Client, tmp_path: Path
) -> None:
    # Two positions the engine finds at start (adopted and protected by its startup reconcile).
    for symbol, qty in HELD.items():
        _inject(sandbox, symbol, qty)
    engine = _start_engine(sandbox, tmp_path)
    try:
        lines = Lines(engine)
        lines.wait_for(lambda line: "ready:" in line)
        _wait_state(sandbox, _protected, "both positions with their stop-loss")
        # Slow answers, so the stop arrives while the sweep's requests are in flight.
        sandbox.post("/__admin__/faults", json={"slow_ms": 150})
        engine.send_signal(signal.SIGUSR2)
        lines.wait_for(lambda line: "EMERGENCY SWEEP started" in line)
        engine.send_signal(signal.SIGTERM)
        code = engine.wait(DEADLINE_S)
        out = lines.rest()
    finally:
        _stop(engine)
    err = engine.stderr.read() if engine.stderr else ""

    assert code == 0, f"exit {code}\n{''.join(out[-40:])}\n{err}"
    state = _state(sandbox)
    assert [p for p in state["positions"] if p["qty"]] == []
    assert state["open_orders"] == [] and state["open_algo_orders"] == []
    last = out[-1].strip()
    assert last.startswith("report: "), last
    report = json.loads(Path(last.removeprefix("report: ")).read_text())
    assert (report["sweep"], report["unprotected_at_exit"], report["open_positions"]) == ("flat", 0, 0)
    assert report["exit_code"] == 0
    assert "Traceback" not in "".join(out) + err


@pytest.mark.timeout(240)
def test_a_position_whose_stop_cannot_be_placed_at_exit_is_named_and_exits_3(
    sandbox: httpx.Client, tmp_path: Path
) -> None:
    engine = _start_engine(sandbox, tmp_path)
    try:
        lines = Lines(engine)
        lines.wait_for(lambda line: "ready:" in line)
        # A position opened behind the engine's back, and an exchange that now refuses every new order.
        _inject(sandbox, "ETHUSDT", -0.1)
        sandbox.post("/__admin__/faults", json={"service_unavailable": 1000}).raise_for_status()
        engine.send_signal(signal.SIGTERM)
        code = engine.wait(DEADLINE_S)
        out = lines.rest()
    finally:
        _stop(engine)
    err = engine.stderr.read() if engine.stderr else ""

    assert code == 3, f"exit {code}\n{''.join(out[-40:])}\n{err}"
    state = _state(sandbox)
    assert [(p["symbol"], p["qty"]) for p in state["positions"] if p["qty"]] == [("ETHUSDT", -0.1)]
    assert state["open_algo_orders"] == [], "the exchange holds no stop for it"
    report = json.loads(Path(out[-1].strip().removeprefix("report: ")).read_text())
    assert report["unprotected_at_exit"] == 1 and report["exit_code"] == 3
    assert report["unprotected"] == ["ETHUSDT SHORT 0.1: no stop-loss on the exchange"]
    assert any("UNPROTECTED at exit: ETHUSDT SHORT 0.1" in line for line in out)
    assert not any("stay protected" in line for line in out)
