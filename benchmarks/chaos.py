"""Chaos: SIGKILL the headless engine again and again while it trades, and check what recovery leaves behind.

The Binance-protocol sandbox runs as its own process, so the exchange outlives every engine process. Each
engine process (`casino-tui --headless --exchange binance` against the sandbox, one state directory for all)
is killed once: either by a plain SIGKILL at a random moment, or by itself at a named crash point
(`CASINO_CRASH_AT`, in rotation; a process that does not reach its point in time gets a plain SIGKILL), or
by an operator action: an emergency sweep (SIGUSR2) SIGKILLed while it runs (`sweep_kill`), or a sweep at
once followed by SIGTERM (`sweep_term`), which must end by itself, exit 0, leave the sandbox flat with no
open order and report `unprotected_at_exit: 0`. The next process must recover (and, when a sweep left it
paused, is resumed with SIGUSR1).

Once a restart logs "ready:", the sandbox is polled until its state is clean, for at most `--settle` seconds;
what is still wrong then, and stays wrong for a further confirmation window, counts (and so does whatever
stays wrong that long later on, while the process runs until its kill):

- orphan_orders: open plain or conditional orders on a symbol without a position;
- naked_positions: positions without an open STOP_MARKET (closing side) on their symbol;
- duplicate_entries: client ids the sandbox received more than once, bracket sequence numbers with more than
  one entry client id, and positions worth more than 1.5x the configured notional (two entries stacked);
- failed_restarts: restarts that neither reached "ready:" within `--ready-timeout` nor died at their own
  armed crash point;
- sweeps_not_flat: `sweep_term` lives after which the sandbox still held a position or an open order, or
  whose report or exit code said anything but flat with nothing unprotected;
- failed_stops: `sweep_term` lives that did not exit by themselves within `--stop-timeout`.

Around an operator action the sandbox answers `--sweep-slow-ms` late, so that the SIGKILL (at most
`--sweep-kill-delay` after the sweep's first log line) and the SIGTERM land while the sweep's requests are in
flight; `sweeps_killed_midway` counts the kills that did.

All engine processes share the sandbox's IP weight budget (2400/min, as on Binance) and a restart costs about
160, so a restart waits until the last minute's weight is below `--weight-budget`: the figures are about
recovery, not the rate limiter. Prints machine info and one line per kill, then one JSON object last.

    .venv/bin/python benchmarks/chaos.py [--kills 200] [--seed 1] [--speed 60] [--executor inline]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from ingest import machine_info  # noqa: E402

from casino_tui.crashpoints import POINTS  # noqa: E402
from casino_tui.sandbox.serve import BANNER_BASE_URL  # noqa: E402

API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
RANDOM = "random"
SWEEP_KILL = "sweep_kill"  # SIGUSR2, then SIGKILL while the sweep runs
SWEEP_TERM = "sweep_term"  # SIGUSR2, then SIGTERM at once: the sweep must still end flat
OPERATOR = (SWEEP_KILL, SWEEP_TERM)
SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT"
NOTIONAL_USDT = 200.0
WEIGHT_BUDGET = 1400  # restart only below this IP weight (the engine's own requests stop at 70% of 2400)
STACKED_FACTOR = 1.5  # a position worth this much more than one entry's notional holds two entries
CONFIRM_S = 2.0  # a violation must last this long past the settle window to count (entries get stops in ms)
POLL_S = 0.2
WATCH_S = 0.5  # polling period while an engine runs between its check and its death
_SANDBOX_LINE = BANNER_BASE_URL
_READY = re.compile(r"(?<!\w)ready: ")
_STARTED_PAUSED = re.compile(r"recovering: .*\bPAUSED\b")
_ENTRY_ID = re.compile(r"^ct(\d{6})E")

# Quick decisions and short-lived brackets, so that entries, legs and closes (and so the crash points) come
# every few seconds; a snapshot every second.
CONFIG_TOML = """\
symbols = [{symbols}]

[sensors]
executor = "{executor}"

[player]
threshold = 0.05
debounce = 1
htf_filter = false
cooldown_s = 0

[trading]
notional_usdt = {notional}
max_positions = {max_positions}
take_profit_pct = {exit_pct}
stop_loss_pct = {exit_pct}

[runtime]
snapshot_interval_s = 1

[exchange]
# The sandbox clock runs --speed times faster: a request answered --sweep-slow-ms late is that many times
# older in sandbox time, so the receive window is Binance's widest.
recv_window_ms = 60000
"""


def _clean_env(work: Path) -> dict[str, str]:
    """This process's environment without keys or CASINO_* settings; config and state dirs under `work`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(work / "xdg-config"), XDG_STATE_HOME=str(work / "xdg-state"))
    env.update(PYTHONUNBUFFERED="1")
    return env


class Sandbox:
    """`casino-tui sandbox --port 0` in its own process; `state()` reads its admin endpoint."""

    def __init__(self, work: Path, symbols: str, speed: float, seed: int) -> None:
        args = ["sandbox", "--port", "0", "--seed", str(seed), "--speed", str(speed), "--symbols", symbols]
        self.log = (work / "sandbox.log").open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "casino_tui.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=work,
            env=_clean_env(work),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.log.write(line)
        match = _SANDBOX_LINE.search(line)
        if match is None:
            self.stop()
            raise SystemExit(f"sandbox did not start: {line!r}")
        self.base_url = match.group(1)
        self.ws_url = "ws://" + self.base_url.removeprefix("http://")
        self._pump = threading.Thread(target=_copy_lines, args=(self.proc.stdout, self.log), daemon=True)
        self._pump.start()
        self._http = httpx.Client(base_url=self.base_url, timeout=10.0)

    def state(self) -> dict[str, Any]:
        response = self._http.get("/__admin__/state")
        response.raise_for_status()
        return response.json()

    def slow(self, ms: int) -> None:
        """Delay every answer by `ms` (0: back to normal), so operator actions land inside a sweep."""
        self._http.post("/__admin__/faults", json={"slow_ms": ms}).raise_for_status()

    def used_weight(self) -> int:
        """IP weight used in the last minute, from the header of the cheapest request (weight 1)."""
        response = self._http.get("/fapi/v1/time")
        return int(response.headers.get("x-mbx-used-weight-1m", "0"))

    def pace(self, budget: int) -> float:
        """Wait until the last minute's IP weight leaves room for a restart; returns the seconds waited.

        Every engine process shares the sandbox's 2400/min (one IP, as on Binance) and one restart costs
        about 160 (history, reconcile reads): killing faster than that measures the rate limiter, not recovery.
        """
        started = time.monotonic()
        while self.used_weight() > budget:
            time.sleep(1.0)
        return time.monotonic() - started

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _copy_lines(stream: TextIO, sink: TextIO) -> None:
    for line in stream:
        sink.write(line)


class Engine:
    """One engine process: its own session (so its whole process group can be killed), its log lines, and
    the moments it was spawned and logged "ready:"."""

    def __init__(
        self, index: int, kind: str, crash_at: str, argv: list[str], env: dict[str, str], log: TextIO
    ):
        self.index = index
        self.kind = kind
        self.crash_at = crash_at
        self.killed_by_us = False
        self.ready_at: float | None = None
        self.started_paused = False
        self.report_path: Path | None = None
        self._ready = threading.Event()
        self._eof = False
        self._log = log
        self._recent: deque[str] = deque(maxlen=500)  # the latest lines, for `wait_line`
        self._arrived = threading.Condition()
        if crash_at:
            env = {**env, "CASINO_CRASH_AT": crash_at}
        log.write(f"=== engine {index}: {kind} {crash_at}\n")
        self.spawned_at = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.ready_at is None and _READY.search(line):
                self.ready_at = time.monotonic()
                self._ready.set()
            if _STARTED_PAUSED.search(line):
                self.started_paused = True
            if line.startswith("report: "):
                self.report_path = Path(line.removeprefix("report: ").strip())
            self._log.write(f"[{self.index}] {line}")
            with self._arrived:
                self._recent.append(line)
                self._arrived.notify_all()
        self._eof = True
        self._ready.set()  # end of output: nothing more to wait for
        with self._arrived:
            self._arrived.notify_all()

    def wait_line(self, needle: str, timeout: float) -> bool:
        """Wait until a line containing `needle` arrives (among the latest ones); False at the deadline or EOF."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._eof or any(needle in line for line in self._recent), timeout)
            return any(needle in line for line in self._recent)

    def send(self, sig: signal.Signals) -> None:
        """Send `sig` to the engine process itself (not its group: the sensor workers are its business)."""
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    @property
    def is_alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def ready_s(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.spawned_at

    def wait_ready(self, timeout: float) -> bool:
        self._ready.wait(timeout)
        return self.ready_at is not None

    def wait_exit(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the process and everything in its group (sensor pool workers)."""
        if self._eof:
            self.wait_exit(5.0)  # its output ended: it is exiting by itself, let it finish
        if self.is_alive:
            self.killed_by_us = True
        self._kill_group(signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)

    def stop(self, timeout: float) -> bool:
        """Orderly stop (SIGTERM); True if it exited by itself within `timeout`."""
        self.proc.send_signal(signal.SIGTERM)
        clean = self.wait_exit(timeout)
        self.killed_by_us = not clean
        self._kill_group(signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)
        return clean

    def _kill_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    @property
    def died_at_its_point(self) -> bool:
        return bool(self.crash_at) and not self.killed_by_us and self.proc.returncode == -signal.SIGKILL


@dataclass
class Violations:
    """What is wrong with one sandbox state, each keyed so the same one is counted once over the run."""

    naked: set[tuple[Any, ...]] = field(default_factory=set)
    orphans: set[str] = field(default_factory=set)
    stacked: set[tuple[Any, ...]] = field(default_factory=set)

    @property
    def is_clean(self) -> bool:
        return not self.naked and not self.orphans


def violations(state: dict[str, Any], notional: float) -> Violations:
    """Positions without a stop on the closing side, orders on symbols without a position, stacked entries."""
    found = Violations()
    positions = {p["symbol"]: p for p in state["positions"] if p["qty"] != 0}
    stops = {(o["symbol"], o["side"]) for o in state["open_algo_orders"] if o["type"] == "STOP_MARKET"}
    for symbol, p in positions.items():
        key = (symbol, p["qty"], p["entry_price"])
        if (symbol, "SELL" if p["qty"] > 0 else "BUY") not in stops:
            found.naked.add(key)
        if abs(p["qty"]) * p["entry_price"] > STACKED_FACTOR * notional:
            found.stacked.add(key)
    for order in state["open_orders"] + state["open_algo_orders"]:
        if order["symbol"] not in positions:
            found.orphans.add(order["client_id"])
    return found


def duplicates(state: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """Client ids received more than once, and bracket seqs that sent more than one entry client id."""
    twice = sorted(cid for cid, n in state["orders_received"].items() if n > 1)
    entries: dict[str, set[str]] = {}
    for cid in state["orders_received"]:
        match = _ENTRY_ID.match(cid)
        if match:
            entries.setdefault(match.group(1), set()).add(cid)
    return twice, {seq: sorted(ids) for seq, ids in entries.items() if len(ids) > 1}


class Checker:
    """Runs the invariant check after a restart and keeps the run's distinct violations."""

    def __init__(self, sandbox: Sandbox, notional: float, settle_s: float) -> None:
        self.sandbox = sandbox
        self.notional = notional
        self.settle_s = settle_s
        self.total = Violations()
        self.checks = 0
        self.inconclusive = 0

    def wait_for_position(self, engine: Engine, seconds: float) -> bool:
        """Poll until the sandbox holds a position (something for a sweep to close); False if none came."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and engine.is_alive:
            if any(p["qty"] != 0 for p in self.sandbox.state()["positions"]):
                return True
            time.sleep(POLL_S)
        return False

    def check(self, engine: Engine) -> str:
        """Poll until clean (at most `settle_s` after ready); what then stays wrong for CONFIRM_S counts.
        Inconclusive if the engine dies meanwhile (an armed crash point fired): the next restart is checked."""
        assert engine.ready_at is not None
        deadline = engine.ready_at + self.settle_s
        while True:
            seen = violations(self.sandbox.state(), self.notional)
            self.total.stacked |= seen.stacked
            if not engine.is_alive:
                self.inconclusive += 1
                return "inconclusive (engine died)"
            if seen.is_clean:
                self.checks += 1
                return "clean"
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        confirm_until = time.monotonic() + CONFIRM_S
        while time.monotonic() < confirm_until:
            time.sleep(POLL_S)
            again = violations(self.sandbox.state(), self.notional)
            seen.naked &= again.naked
            seen.orphans &= again.orphans
        if not engine.is_alive:
            self.inconclusive += 1
            return "inconclusive (engine died)"
        self.checks += 1
        self.total.naked |= seen.naked
        self.total.orphans |= seen.orphans
        if seen.is_clean:
            return "clean after settling"
        return f"VIOLATIONS naked={sorted(seen.naked)} orphans={sorted(seen.orphans)}"

    def watch(self, engine: Engine, seconds: float) -> None:
        """Until the engine exits or `seconds` pass, keep polling: a violation that lasts `settle_s` while the
        engine runs counts as well (a position left without its stop in normal running, not only on restart)."""
        end = time.monotonic() + seconds
        since: dict[tuple[str, Any], float] = {}
        while not engine.wait_exit(min(WATCH_S, max(0.0, end - time.monotonic()))):
            if time.monotonic() >= end:
                return
            seen = violations(self.sandbox.state(), self.notional)
            if not engine.is_alive:
                return  # what its death left behind is the next restart's to repair
            now = time.monotonic()
            keys = {("naked", k) for k in seen.naked} | {("orphan", k) for k in seen.orphans}
            since = {key: since.get(key, now) for key in keys}
            for (kind, key), first in since.items():
                if now - first >= self.settle_s:
                    (self.total.naked if kind == "naked" else self.total.orphans).add(key)
            self.total.stacked |= seen.stacked


def plan(kills: int) -> list[str]:
    """The kill kinds in rotation: a random kill, each named crash point, then the two operator actions."""
    cycle = [RANDOM, *POINTS, *OPERATOR]
    return [cycle[i % len(cycle)] for i in range(kills)]


def crash_spec(point: str, rng: random.Random) -> str:
    """`point:n`: die the n-th time the point is passed (snapshots and sends come often, fills less)."""
    most = {"during_snapshot": 4, "after_intent": 3, "after_send": 3}.get(point, 2)
    return f"{point}:{rng.randint(1, most)}"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Tally:
    kills: int = 0
    failed_restarts: int = 0
    unexpected_exits: int = 0
    sweeps_not_flat: int = 0
    failed_stops: int = 0
    sweeps_killed_midway: int = 0
    sweep_term: list[dict[str, Any]] = field(default_factory=list)
    ready_s: list[float] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    points_reached: dict[str, int] = field(default_factory=dict)
    killed_before_ready: int = 0
    paced_s: float = 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="casino-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    config = work / "chaos.toml"
    config.write_text(
        CONFIG_TOML.format(
            symbols=", ".join(f'"{s}"' for s in symbols),
            executor=args.executor,
            notional=NOTIONAL_USDT,
            max_positions=len(symbols),
            exit_pct=args.exit_pct,
        )
    )
    print(f"work dir {work} (engine.log, sandbox.log, state/)", flush=True)
    rng = random.Random(args.seed)
    sandbox = Sandbox(work, ",".join(symbols), args.speed, args.seed)
    env = {**_clean_env(work), "BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
    argv = [sys.executable, "-m", "casino_tui.cli", "--headless", "--config", str(config)]
    argv += ["--exchange", "binance", "--rest-url", sandbox.base_url, "--ws-url", sandbox.ws_url]
    argv += ["--state-dir", str(work / "state")]
    checker = Checker(sandbox, NOTIONAL_USDT, args.settle)
    tally = Tally()
    started = time.monotonic()
    log = (work / "engine.log").open("w", encoding="utf-8", buffering=1)
    try:
        kinds = plan(args.kills)
        for index, kind in enumerate(kinds, 1):
            spec = crash_spec(kind, rng) if kind != RANDOM else ""
            tally.paced_s += sandbox.pace(args.weight_budget)
            engine = Engine(index, kind, spec, argv, env, log)
            line = _one_life(engine, args, rng, checker, tally)
            print(f"kill {index}/{len(kinds)} {kind:<16} {line}", flush=True)
        # One more restart to check what the last kill left, then an orderly stop.
        tally.paced_s += sandbox.pace(args.weight_budget)
        engine = Engine(len(kinds) + 1, "final", "", argv, env, log)
        if engine.wait_ready(args.ready_timeout):
            tally.ready_s.append(engine.ready_s or 0.0)
            verdict = checker.check(engine)
            clean_stop = engine.stop(60.0)
            print(f"final restart {engine.ready_s:.2f}s to ready; check {verdict}; stop ok={clean_stop}")
        else:
            tally.failed_restarts += 1
            engine.kill()
            print("final restart never reached ready", flush=True)
        final = sandbox.state()
    finally:
        log.close()
        sandbox.stop()
    twice, seqs = duplicates(final)
    dup_count = len(twice) + sum(len(ids) - 1 for ids in seqs.values()) + len(checker.total.stacked)
    entries = sum(1 for cid in final["orders_placed"] if _ENTRY_ID.match(cid))
    result = {
        "kills": tally.kills,
        "orphan_orders": len(checker.total.orphans),
        "duplicate_entries": dup_count,
        "naked_positions": len(checker.total.naked),
        "failed_restarts": tally.failed_restarts,
        "restart_to_ready_p99_s": round(percentile(tally.ready_s, 99), 3),
        "restart_to_ready_p50_s": round(percentile(tally.ready_s, 50), 3),
        "restart_to_ready_max_s": round(max(tally.ready_s, default=0.0), 3),
        "restarts_ready": len(tally.ready_s),
        "unexpected_exits": tally.unexpected_exits,
        "sweeps_not_flat": tally.sweeps_not_flat,
        "failed_stops": tally.failed_stops,
        "sweeps_killed_midway": tally.sweeps_killed_midway,
        "killed_before_ready": tally.killed_before_ready,
        "checks": checker.checks,
        "checks_inconclusive": checker.inconclusive,
        "kills_by_kind": tally.by_kind,
        "crash_points_reached": tally.points_reached,
        "entries_sent": entries,
        "orders_sent": sum(final["orders_placed"].values()),
        "details": {
            "received_twice": twice[:20],
            "seqs_with_two_entries": dict(list(seqs.items())[:20]),
            "stacked": sorted(map(list, checker.total.stacked))[:20],
            "naked": sorted(map(list, checker.total.naked))[:20],
            "orphans": sorted(checker.total.orphans)[:20],
            "sweep_term": tally.sweep_term[:20],
        },
        "wall_s": round(time.monotonic() - started, 1),
        "paced_for_rate_limit_s": round(tally.paced_s, 1),
        "settings": {"speed": args.speed, "seed": args.seed, "executor": args.executor, "symbols": symbols},
    }
    if not args.keep and result_is_clean(result):
        shutil.rmtree(work, ignore_errors=True)
    return result


def result_is_clean(result: dict[str, Any]) -> bool:
    keys = (
        "orphan_orders",
        "duplicate_entries",
        "naked_positions",
        "failed_restarts",
        "unexpected_exits",
        "sweeps_not_flat",
        "failed_stops",
    )
    return all(result[k] == 0 for k in keys)


def _one_life(
    engine: Engine, args: argparse.Namespace, rng: random.Random, checker: Checker, tally: Tally
) -> str:
    """Start → ready → check → the kill this process was planned for. Returns a one-line account."""
    tally.kills += 1
    tally.by_kind[engine.kind] = tally.by_kind.get(engine.kind, 0) + 1
    early = engine.kind == RANDOM and rng.random() < args.early_share
    if early:
        # Killed during startup (history, reconcile ...): recovery must cope with a half-done recovery.
        engine.wait_ready(rng.uniform(0.3, 2.5))
        was_ready = engine.ready_at is not None
        engine.kill()
        if not was_ready:
            tally.killed_before_ready += 1
            return "killed during startup"
        tally.ready_s.append(engine.ready_s or 0.0)
        return f"{engine.ready_s:.2f}s to ready; killed right after"
    if not engine.wait_ready(args.ready_timeout):
        engine.kill()
        if engine.died_at_its_point:
            tally.killed_before_ready += 1
            tally.points_reached[engine.kind] = tally.points_reached.get(engine.kind, 0) + 1
            return f"{engine.crash_at}: died at its point during startup"
        tally.failed_restarts += 1
        return f"FAILED RESTART (exit {engine.proc.returncode}, see engine.log [{engine.index}])"
    tally.ready_s.append(engine.ready_s or 0.0)
    resumed = _resume_if_paused(engine)
    verdict = checker.check(engine)
    account = f"{engine.ready_s:.2f}s to ready{resumed}; check {verdict}"
    if engine.kind in OPERATOR:
        return f"{account}; {_operator_action(engine, args, rng, checker, tally)}"
    if engine.kind == RANDOM:
        checker.watch(engine, rng.uniform(0.2, args.max_delay))
    else:
        checker.watch(engine, max(0.0, engine.ready_at + args.armed_timeout - time.monotonic()))
    exited_alone = not engine.is_alive
    engine.kill()
    if engine.died_at_its_point:
        tally.points_reached[engine.kind] = tally.points_reached.get(engine.kind, 0) + 1
        return f"{account}; died at {engine.crash_at}"
    if exited_alone:
        tally.unexpected_exits += 1
        return f"{account}; EXITED BY ITSELF (exit {engine.proc.returncode})"
    if engine.crash_at:
        return f"{account}; {engine.crash_at} not reached, plain SIGKILL"
    return f"{account}; SIGKILL"


def _resume_if_paused(engine: Engine) -> str:
    """A sweep pauses new entries, durably: resume the next life so that it trades (and crashes) again."""
    if not engine.started_paused:
        return ""
    engine.send(signal.SIGUSR1)
    return ", resumed" if engine.wait_line("resumed: new entries allowed", 10.0) else ", NOT resumed"


def _operator_action(
    engine: Engine, args: argparse.Namespace, rng: random.Random, checker: Checker, tally: Tally
) -> str:
    """An emergency sweep, then SIGKILL while it runs (`sweep_kill`) or SIGTERM at once (`sweep_term`)."""
    had_position = checker.wait_for_position(engine, args.operator_wait)
    checker.sandbox.slow(args.sweep_slow_ms)
    try:
        engine.send(signal.SIGUSR2)
        if engine.kind == SWEEP_KILL:
            started = engine.wait_line("EMERGENCY SWEEP started", 10.0)
            time.sleep(rng.uniform(0.0, args.sweep_kill_delay))  # somewhere inside the sweep
            alive = engine.is_alive
            finished = any(engine.wait_line(f"oco sweep: {how}", 0.0) for how in ("flat", "NOT flat"))
            engine.kill()
            if not alive:
                tally.unexpected_exits += 1
                return f"EXITED BY ITSELF during the sweep (exit {engine.proc.returncode})"
            if started and not finished:
                tally.sweeps_killed_midway += 1
            when = "after it ended" if finished else "during it" if started else "before it started"
            return f"SIGKILL {when} (position before: {had_position})"
        engine.send(signal.SIGTERM)
        exited = engine.wait_exit(args.stop_timeout)
    finally:
        checker.sandbox.slow(0)
    if not exited:
        tally.failed_stops += 1
    engine.kill()  # after an exit of its own: only waits for its last lines (the report path)
    state = checker.sandbox.state()
    left = len([p for p in state["positions"] if p["qty"] != 0])
    orders = len(state["open_orders"]) + len(state["open_algo_orders"])
    report = _read_report(engine.report_path)
    outcome = {
        "engine": engine.index,
        "had_position": had_position,
        "exit": engine.proc.returncode,
        "positions_left": left,
        "orders_left": orders,
        "sweep": report.get("sweep"),
        "unprotected_at_exit": report.get("unprotected_at_exit"),
    }
    tally.sweep_term.append(outcome)
    flat = exited and engine.proc.returncode == 0 and left == 0 and orders == 0
    if not (flat and report.get("sweep") == "flat" and report.get("unprotected_at_exit") == 0):
        tally.sweeps_not_flat += 1
        return f"SWEEP+SIGTERM NOT FLAT {outcome}"
    return f"sweep+SIGTERM: exit 0, flat, report clean (position before: {had_position})"


def _read_report(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=60.0, help="sandbox clock speed")
    parser.add_argument("--symbols", default=SYMBOLS)
    parser.add_argument("--executor", choices=("inline", "pool"), default="inline", help="sensor executor")
    parser.add_argument("--exit-pct", type=float, default=0.004, help="TP and SL distance (short brackets)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after ready to become clean")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--max-delay", type=float, default=4.0, help="random kill: most seconds after check")
    parser.add_argument("--armed-timeout", type=float, default=20.0, help="seconds to reach a crash point")
    parser.add_argument("--early-share", type=float, default=0.2, help="share of random kills in startup")
    parser.add_argument("--weight-budget", type=int, default=WEIGHT_BUDGET, help="IP weight to restart under")
    parser.add_argument("--operator-wait", type=float, default=15.0, help="seconds to wait for a position")
    parser.add_argument("--sweep-kill-delay", type=float, default=0.2, help="most seconds into the sweep")
    parser.add_argument("--sweep-slow-ms", type=int, default=250, help="sandbox answer delay around sweeps")
    parser.add_argument("--stop-timeout", type=float, default=90.0, help="sweep_term: seconds to exit")
    parser.add_argument("--workdir", default="", help="default: a new temp dir (removed if all is clean)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even if all is clean")
    args = parser.parse_args()
    info = machine_info()
    for key, value in info.items():
        print(f"{key}: {value}")
    result = run(args)
    result["machine"] = info
    print(json.dumps(result))


if __name__ == "__main__":
    main()
