"""Every benchmark runs: its tiny mode finishes in seconds, exits 0 and prints its JSON result last, with the
machine it ran on. A benchmark that breaks (or a new one without a tiny run here) fails the suite."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
HELPERS = {"harness.py"}  # imported by the benchmarks, not run
MACHINE_KEYS = {"python", "cpu", "cpu_count"}


@dataclass(frozen=True)
class Run:
    """One command line of a benchmark, the keys its result must have and what must hold of their values."""

    script: str
    args: tuple[str, ...]
    keys: frozenset[str]
    holds: Callable[[dict[str, Any]], bool] = field(default=lambda result: True)
    timeout_s: float = 90.0


RUNS = {
    "ingest": Run(
        "ingest.py",
        ("--tiny",),
        frozenset({"ticks_per_s", "decode_ticks_per_s", "engine_ticks_per_s", "batches", "vote_batches"}),
        # Every candle batch went through the sensors and came back as a VoteBatch.
        lambda r: r["ticks"] == 20_000 and r["sensors_included"] and r["vote_batches"] == r["batches"] > 0,
    ),
    "ingest-no-sensors": Run(
        "ingest.py",
        ("--tiny", "--no-sensors"),
        frozenset({"ticks_per_s", "sensors_included", "vote_batches"}),
        lambda r: not r["sensors_included"] and r["vote_batches"] == 0 and r["batches"] > 0,
    ),
    # The before-stop hook's own command and limit.
    "ingest-hook": Run(
        "ingest.py",
        ("--ticks", "10000", "--repeat", "1"),
        frozenset({"ticks_per_s", "vote_batches"}),
        lambda r: r["ticks"] == 10_000 and r["vote_batches"] == r["batches"] > 0,
        timeout_s=30.0,
    ),
    "sensors": Run(
        "sensors.py",
        ("--tiny",),
        frozenset(
            {
                "p50_ms",
                "p99_ms",
                "incremental_p99_ms",
                "incremental_burst_p99_ms",
                "full_recompute_p99_ms",
                "speedup_p99",
            }
        ),
        lambda r: r["shards"] == 1 and r["batches"] > 0 and r["p99_ms"] > 0,
    ),
    # Ray's tiny run: a local Ray, one actor, the same result keys (start-up makes it the slowest tiny run).
    "sensors-ray": Run(
        "sensors.py",
        ("--tiny", "--executor", "ray"),
        frozenset({"p50_ms", "p99_ms", "incremental_p99_ms", "full_recompute_p99_ms", "speedup_p99"}),
        lambda r: r["executor"] == "ray" and r["shards"] == 1 and r["batches"] > 0 and r["p99_ms"] > 0,
    ),
    "ws_ingest": Run(
        "ws_ingest.py",
        ("--tiny",),
        frozenset({"raw_recv_per_s", "engine_ticks_per_s", "ratio", "capacity_ratio", "engine_errors"}),
        lambda r: r["raw_msgs_per_s"] > 0 and r["engine_ticks_per_s"] > 0 and r["engine_errors"] == 0,
    ),
    "bracket_latency": Run(
        "bracket_latency.py",
        ("--tiny",),
        frozenset({"protect_p50_ms", "protect_p99_ms", "entry_ack_p99_ms", "swept_flat"}),
        lambda r: r["brackets"] == 3 and r["failed"] == 0 and r["swept_flat"],
    ),
    "replay": Run(
        "replay.py",
        ("--tiny",),
        frozenset({"ticks_per_s", "replay_ticks_per_s", "peak_rss_mb", "rss_growth_pct"}),
        # Every generated trade was read (warm-up plus replay), candles closed, nothing failed.
        lambda r: (
            r["ticks"] == 60_000 and r["replayed_ticks"] > 0 and r["candles_closed"] > 0 and r["errors"] == 0
        ),
    ),
    "ui_load": Run(
        "ui_load.py",
        ("--tiny",),
        frozenset(
            {
                "cpu_ui_pct",
                "cpu_headless_pct",
                "loop_lag_p99_ms_ui",
                "loop_lag_p99_ms_headless",
                "rss_growth_pct",
            }
        ),
        # Both runs carried the sim's trades; the console read snapshots and drew frames for the terminal.
        lambda r: (
            r["ui"]["ticks"] > 0
            and r["headless"]["ticks"] > 0
            and r["ui"]["snapshots"] > 0
            and r["ui"]["terminal_kb_per_s"] > 0
            and r["cpu_ui_pct"] > 0
        ),
    ),
    "chaos": Run(
        "chaos.py",
        ("--kills", "1", "--seed", "3"),
        frozenset({"kills", "orphan_orders", "duplicate_entries", "naked_positions", "failed_restarts"}),
        lambda r: r["kills"] == 1 and r["failed_restarts"] == 0,
        timeout_s=110.0,
    ),
}


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No keys or CASINO_* settings from the caller; config and state under `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"))
    return env


def test_every_benchmark_has_a_tiny_run_here() -> None:
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - HELPERS
    assert scripts == {run.script for run in RUNS.values()}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(RUNS))
def test_tiny_run_exits_0_and_prints_its_result_and_machine_as_json(name: str, tmp_path: Path) -> None:
    run = RUNS[name]
    args = [sys.executable, str(BENCHMARKS / run.script), *run.args]
    if run.script == "chaos.py":
        args += ["--workdir", str(tmp_path / "chaos")]
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=tmp_path, env=_clean_env(tmp_path), timeout=run.timeout_s
    )

    story = f"{' '.join(args[1:])}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, story
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert run.keys <= set(result), f"missing {sorted(run.keys - set(result))}\n{story}"
    assert run.holds(result), story
    machine = result["machine"]
    assert MACHINE_KEYS <= set(machine), machine
    assert machine["python"] == platform.python_version()
    assert machine["cpu_count"] == os.cpu_count() and machine["cpu"]
    # The machine is printed for a reader too, not only inside the JSON.
    assert f"cpu_count: {os.cpu_count()}" in done.stdout
