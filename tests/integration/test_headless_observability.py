"""A headless process as a log shipper and Prometheus see it: `--log-format json` stdout, `--metrics-port`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

JSON_KEYS = {"time", "level", "component", "symbol", "message"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CASINO_SENSORS_EXECUTOR": "inline"}
    return subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--state-dir", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_json_until(
    proc: subprocess.Popen[str], needle: str, seen: list[dict], deadline_s: float = 90
) -> dict:
    """Read JSON log lines until one whose message contains `needle`; returns that record."""
    assert proc.stdout is not None
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if needle in seen[-1]["message"]:
            return seen[-1]
    raise AssertionError(f"{needle!r} never appeared; records:\n{seen}")


def test_json_log_format_prints_one_json_object_per_line_before_the_report(tmp_path):
    proc = start(tmp_path, "--log-format", "json", "--timeout", "4")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err

    lines = out.splitlines()
    assert lines[-1].startswith("report: ")
    records = [json.loads(line) for line in lines[:-1]]
    assert records, "no log lines before the report"
    for record in records:
        assert JSON_KEYS <= set(record), record
        assert ISO_MS.match(record["time"]), record
    messages = [r["message"] for r in records]
    assert any(m.startswith("ready:") for m in messages) and messages[-1] == "stopped"
    assert {r["component"] for r in records} >= {"runtime", "headless"}


def test_metrics_port_zero_serves_the_running_engine_and_names_its_port_in_the_log(tmp_path):
    proc = start(tmp_path, "--log-format", "json", "--metrics-port", "0", "--timeout", "120")
    seen: list[dict] = []
    try:
        serving = read_json_until(proc, "metrics: serving", seen)
        url = serving["message"].split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        read_json_until(proc, "ready:", seen)
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }
        assert samples[("casino_status", (("status", "RUNNING"),))] == 1
        assert samples[("casino_balance_usdt", ())] > 0
        assert samples[("process_resident_memory_bytes", ())] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
