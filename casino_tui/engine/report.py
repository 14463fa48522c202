"""The session report written at every exit: what happened, in one JSON file, and the exit code it implies."""

from __future__ import annotations

import enum
import os
import time
from pathlib import Path

import msgspec

from casino_tui.model import TradingMode

# Exit codes of a run that got past start-up (README "Exit codes"); 1 and 2 are the CLI's.
EXIT_OK = 0
EXIT_UNPROTECTED = 3  # a position is left without a stop-loss the exchange confirmed
EXIT_NOT_FLAT = 4  # a sweep did not reach flat; every position left holds its stop-loss (confirmed)


class SweepOutcome(enum.StrEnum):
    """How the session's last sweep ended."""

    FLAT = "flat"  # the exchange read flat: no position, no open order
    INCOMPLETE = "incomplete"  # something was left (or could not be verified)
    NOT_RUN = "not_run"  # no sweep this session


class SessionReport(msgspec.Struct, frozen=True):
    exchange: str
    mode: TradingMode
    symbols: tuple[str, ...]
    trades: int
    realized_pnl: float
    fees: float
    open_positions: int  # as the exchange confirmed at exit (local count if it could not be read)
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
    sweep: SweepOutcome = SweepOutcome.NOT_RUN
    unprotected_at_exit: int = 0
    unprotected: tuple[str, ...] = ()  # one line per position left without a confirmed stop-loss
    exit_code: int = EXIT_OK


def exit_code_for(sweep: SweepOutcome, unprotected: int, open_positions: int) -> int:
    """EXIT_UNPROTECTED before EXIT_NOT_FLAT: a position without its stop is the worse news."""
    if unprotected:
        return EXIT_UNPROTECTED
    if sweep is SweepOutcome.INCOMPLETE and open_positions:
        return EXIT_NOT_FLAT
    return EXIT_OK


def write_report(directory: Path, report: SessionReport, now_ms: int) -> Path:
    """Write atomically (temp + rename) as `session-<UTC time>.json`; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    path = directory / f"session-{stamp}-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    os.replace(tmp, path)
    return path


def utc_iso(ms: int) -> str:
    """Milliseconds since the epoch as `2026-01-01T00:00:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
