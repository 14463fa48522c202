"""The session report written at every exit: what happened, in one JSON file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec


class SessionReport(msgspec.Struct, frozen=True):
    exchange: str
    mode: str
    symbols: tuple[str, ...]
    trades: int
    realized_pnl: float
    fees: float
    open_positions: int
    brackets_opened: int
    brackets_closed: int
    errors: int
    duration_s: float
    ticks: int = 0
    candles_closed: int = 0
    decisions: int = 0
    start_balance: float = 0.0
    end_balance: float = 0.0
    clock: str = "UTC"  # the runtime clock the times below (and the file name) are on: "UTC" or "SIM 30×"
    started_at: str = ""
    ended_at: str = ""


def utc_iso(ms: int) -> str:
    """Milliseconds since the epoch as `2026-01-01T00:00:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def write_report(directory: Path, report: SessionReport, now_ms: int) -> Path:
    """Write atomically (temp + rename) as `session-<UTC time>.json`; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    path = directory / f"session-{stamp}-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    os.replace(tmp, path)
    return path
