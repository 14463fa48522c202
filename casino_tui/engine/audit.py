"""The audit trail as a person reads it: `casino-tui journal`, one line per event, read-only (safe while the
engine runs), with `--since` measured on the clock the journal was written with."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from casino_tui.engine.journal import Journal, JournalEntry, JournalError
from casino_tui.model import JournalKind


class Since(msgspec.Struct, frozen=True):
    """`--since`: a moment on the journal's clock, or a span back from that clock's now."""

    at_ms: int | None = None
    ago_ms: int | None = None

    def start_ms(self, now_ms: int) -> int:
        return self.at_ms if self.at_ms is not None else now_ms - (self.ago_ms or 0)


def parse_since(since: str) -> Since:
    """`300s`, `15m`, `2h`, `1d`, or an ISO time (UTC unless it says otherwise). ValueError if neither."""
    text = since.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return Since(ago_ms=int(float(text[:-1]) * units[text[-1]] * 1000))
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since: expected an ISO time or a duration like 300s/15m/2h, got {since!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Since(at_ms=int(moment.timestamp() * 1000))


def clock_now_ms(journal: Journal, running_pid: int | None, wall_ms: int) -> int:
    """Now on the clock the journal's newest session wrote with (its times are the ones printed).

    The wall clock runs on whether or not anything does. A simulated clock runs only in its process: while
    that process holds the state dir it is extrapolated from the session's anchor, once it has stopped it
    stands at the session's last event.
    """
    anchor = journal.last_session()
    if anchor is None or not isinstance(anchor.payload, dict) or not anchor.payload.get("simulated"):
        return wall_ms
    payload = anchor.payload
    if running_pid is not None and payload.get("pid") == running_pid:
        speed = float(payload.get("speed") or 1.0)
        return anchor.ts_ms + int((wall_ms - int(payload.get("wall_ms") or wall_ms)) * speed)
    last = journal.last_entry()
    return last.ts_ms if last is not None else wall_ms


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _held(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def bracket_detail(payload: dict[str, Any]) -> str:
    """A bracket record in words; a close says why, at what price, for what PnL and fees, and when."""
    state = payload.get("state", "")
    parts = [f"side={payload.get('side', '')}", f"state={state}"]
    if payload.get("close_reason"):
        parts.append(f"reason={payload['close_reason']}")
    parts.append(f"qty={payload.get('qty', 0):.10g}")
    entry = float(payload.get("entry_price") or 0.0)
    if entry:
        parts.append(f"entry={entry:.10g}")
    if state != "CLOSED":
        parts += [
            f"{leg}={payload[key]:.10g}"
            for leg, key in (("tp", "tp_price"), ("sl", "sl_price"))
            if payload.get(key)
        ]
        return " ".join(parts)
    if entry:
        pnl, fees = float(payload.get("realized_pnl") or 0.0), float(payload.get("fees") or 0.0)
        parts += [
            f"exit={float(payload.get('exit_price') or 0.0):.10g}",
            f"pnl={pnl:+.4f}",
            f"fees={fees:.4f}",
        ]
        parts.append(f"net={pnl - fees:+.4f}")
    opened, closed = int(payload.get("opened_ms") or 0), int(payload.get("closed_ms") or 0)
    if opened:
        parts.append(f"opened={_utc(opened)}")
    if closed:
        parts.append(f"closed={_utc(closed)}")
    if opened and closed:
        parts.append(f"held={_held((closed - opened) / 1000)}")
    return " ".join(parts)


def format_entry(entry: JournalEntry) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.ts_ms / 1000))
    payload = entry.payload
    if entry.kind is JournalKind.BRACKET and isinstance(payload, dict) and "side" in payload:
        detail = bracket_detail(payload)
    elif isinstance(payload, dict):
        keep = (
            "side",
            "type",
            "status",
            "quantity",
            "filled_qty",
            "avg_price",
            "trigger_price",
            "state",
            "reason",
        )
        detail = " ".join(f"{k}={payload[k]}" for k in keep if payload.get(k) not in (None, "", 0, 0.0))
        if not detail:
            detail = " ".join(f"{k}={v}" for k, v in list(payload.items())[:6])
    else:
        detail = str(payload)
    return f"{entry.seq:>7} {when} {entry.kind:<9} {entry.symbol:<10} {entry.ref:<24} {detail}"


def print_journal(path: Path, since: str | None, lock_path: Path | None = None) -> int:
    """`casino-tui journal`: the audit trail, one line per event. Read-only: safe while the engine runs.

    `lock_path` is the state dir's lock file, which tells whether the session that wrote last still runs.
    """
    window = parse_since(since) if since else None  # ValueError: the CLI turns it into a usage error
    if not path.exists():
        print(f"no journal at {path}")
        return 0
    try:
        journal = Journal(path, readonly=True)
    except JournalError as exc:
        print(f"casino-tui: error: {exc}", file=sys.stderr)
        return 2
    try:
        since_ms = None
        if window is not None:
            from casino_tui.statelock import holder_pid

            running = holder_pid(lock_path) if lock_path is not None else None
            since_ms = window.start_ms(clock_now_ms(journal, running, time.time_ns() // 1_000_000))
        for entry in journal.iter(0, since_ms):
            print(format_entry(entry))
    finally:
        journal.close()
    return 0
