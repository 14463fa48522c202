"""The journal: SQLite in WAL mode, the system of record and the audit trail.

Every order intent is committed with `synchronous=FULL` *before* the order is sent (a crash between the two
must not lose the order); acks, fills, bracket transitions, operator commands, pause state and breaker
trips follow. Writes run on one dedicated thread so the event loop never waits on the disk, and in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("casino.journal")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT NOT NULL DEFAULT '',
    ref TEXT NOT NULL DEFAULT '',
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ref ON events(ref);
"""

# Event kinds. INTENT/ACK/ORDER carry client ids in `ref`; BRACKET carries the bracket id.
INTENT = "INTENT"
ACK = "ACK"
ORDER = "ORDER"
BRACKET = "BRACKET"
COMMAND = "COMMAND"
PAUSE = "PAUSE"
BREAKER = "BREAKER"
RECONCILE = "RECONCILE"
SESSION = "SESSION"


class JournalError(Exception):
    """The journal cannot be opened or written (corrupt file, full disk). One clear line."""


class JournalEntry(msgspec.Struct, frozen=True):
    seq: int
    ts_ms: int
    kind: str
    symbol: str
    ref: str
    payload: Any


_encoder = msgspec.json.Encoder()


class Journal:
    """Append-only event log. `append` queues a write; `commit_intent` returns once it is on disk."""

    def __init__(self, path: Path, clock_ms=None) -> None:
        self.path = path
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self.errors = 0
        self.last_error = ""
        self._db = self._thread.submit(self._open).result()

    # All sqlite work happens on the journal thread: the connection is created there.
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            aside = _set_aside(self.path)
            raise JournalError(
                f"journal {self.path} is unreadable ({exc}); kept aside as {aside.name}, starting a new one"
            ) from None
        if check != "ok":
            db.close()
            aside = _set_aside(self.path)
            raise JournalError(f"journal {self.path} failed its integrity check; kept aside as {aside.name}")
        return db

    def _write(self, rows: list[tuple[int, str, str, str, bytes]]) -> int:
        try:
            self._db.execute("BEGIN")
            cur = None
            for row in rows:
                cur = self._db.execute(
                    "INSERT INTO events(ts_ms, kind, symbol, ref, payload) VALUES (?,?,?,?,?)", row
                )
            self._db.execute("COMMIT")
            return cur.lastrowid if cur is not None else 0
        except sqlite3.Error as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.errors += 1
            self.last_error = str(exc)
            raise JournalError(f"journal write failed: {exc}") from None

    def _row(self, kind: str, payload: Any, symbol: str, ref: str) -> tuple[int, str, str, str, bytes]:
        return (self._clock_ms(), kind, symbol, ref, _encoder.encode(payload))

    def append(
        self, kind: str, payload: Any, *, symbol: str = "", ref: str = ""
    ) -> concurrent.futures.Future[int]:
        """Queue one event; returns a future of its sequence number. Failures are counted and logged."""
        fut = self._thread.submit(self._write, [self._row(kind, payload, symbol, ref)])
        fut.add_done_callback(self._log_failure)
        return fut

    def _log_failure(self, fut: concurrent.futures.Future[int]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            log.error("%s", fut.exception())

    async def commit(self, kind: str, payload: Any, *, symbol: str = "", ref: str = "") -> int:
        """Write one event and wait until it is durable (fsync'd by SQLite's FULL mode)."""
        return await asyncio.wrap_future(self.append(kind, payload, symbol=symbol, ref=ref))

    # Hooks the OrderExecutor calls around every send.
    async def record_intent(self, request: Any) -> None:
        await self.commit(INTENT, request, symbol=request.symbol, ref=request.client_id)

    def record_ack(self, update: Any) -> None:
        self.append(ACK, update, symbol=update.symbol, ref=update.client_id)

    def record_order(self, update: Any) -> None:
        self.append(ORDER, update, symbol=update.symbol, ref=update.client_id)

    def record_bracket(self, bracket: Any) -> None:
        self.append(BRACKET, bracket, symbol=bracket.symbol, ref=bracket.id)

    def flush(self) -> None:
        """Block until every queued write is done (shutdown, tests)."""
        self._thread.submit(lambda: None).result()

    def close(self) -> None:
        try:
            self.flush()
            self._thread.submit(self._db.close).result()
        finally:
            self._thread.shutdown(wait=True)

    # ------------------------------------------------------------------ reading

    def read(self, after_seq: int = 0, since_ms: int | None = None) -> list[JournalEntry]:
        return list(self.iter(after_seq, since_ms))

    def iter(self, after_seq: int = 0, since_ms: int | None = None) -> Iterator[JournalEntry]:
        def query() -> list[tuple]:
            sql = "SELECT seq, ts_ms, kind, symbol, ref, payload FROM events WHERE seq > ?"
            args: list[Any] = [after_seq]
            if since_ms is not None:
                sql += " AND ts_ms >= ?"
                args.append(since_ms)
            return self._db.execute(sql + " ORDER BY seq", args).fetchall()

        for seq, ts, kind, symbol, ref, payload in self._thread.submit(query).result():
            yield JournalEntry(seq, ts, kind, symbol, ref, msgspec.json.decode(payload))

    def last_seq(self) -> int:
        def query() -> int:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
            return int(row[0])

        return self._thread.submit(query).result()

    def unacked_intents(self, after_seq: int = 0) -> list[JournalEntry]:
        """Intents after `after_seq` with no ACK or ORDER event for the same client id: outcome unknown."""
        entries = self.read(after_seq)
        answered = {e.ref for e in entries if e.kind in (ACK, ORDER)}
        return [e for e in entries if e.kind == INTENT and e.ref not in answered]


def _set_aside(path: Path) -> Path:
    """Rename a bad journal (and its WAL) out of the way; it is never deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(aside) + suffix))
    return aside


def _parse_since(since: str | None, now_ms: int) -> int | None:
    if not since:
        return None
    text = since.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return now_ms - int(float(text[:-1]) * units[text[-1]] * 1000)
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since: expected an ISO time or a duration like 300s/15m/2h, got {since!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_entry(entry: JournalEntry) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.ts_ms / 1000))
    payload = entry.payload
    if isinstance(payload, dict):
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


def print_journal(path: Path, since: str | None) -> int:
    """`casino-tui journal`: the audit trail, one line per event."""
    if not path.exists():
        print(f"no journal at {path}")
        return 0
    try:
        since_ms = _parse_since(since, time.time_ns() // 1_000_000)
    except ValueError as exc:
        from casino_tui.cli import UsageError

        raise UsageError(str(exc)) from None
    try:
        journal = Journal(path)
    except JournalError as exc:
        print(f"casino-tui: error: {exc}")
        return 2
    try:
        for entry in journal.iter(0, since_ms):
            print(format_entry(entry))
    finally:
        journal.close()
    return 0
