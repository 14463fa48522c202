"""The journal: SQLite in WAL mode, the system of record and the audit trail.

Every order intent is committed with `synchronous=FULL` *before* the order is sent (a crash between the two
must not lose the order); acks, fills, bracket transitions, operator commands, pause state and breaker
trips follow. Writes run on one dedicated thread so the event loop never waits on the disk, and in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import msgspec

from casino_tui.clock import Clock
from casino_tui.model import BracketState, JournalKind

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

K = JournalKind


class JournalError(Exception):
    """The journal cannot be opened or written. One clear line."""


class JournalCorruptError(JournalError):
    """The file failed SQLite's integrity check: the writer has set it aside (a fresh journal can start)."""


class JournalUnavailableError(JournalError):
    """Permission, lock or I/O trouble outside the file's contents: nothing was renamed or changed."""


class JournalEntry(msgspec.Struct, frozen=True):
    seq: int
    ts_ms: int
    kind: JournalKind
    symbol: str
    ref: str
    payload: Any


_encoder = msgspec.json.Encoder()


class Journal:
    """Append-only event log. `append` queues a write; `commit_intent` returns once it is on disk."""

    def __init__(
        self,
        path: Path,
        clock_ms: Callable[[], int] | None = None,
        *,
        readonly: bool = False,
        busy_timeout_s: float = 5.0,
    ) -> None:
        self.path = path
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._readonly = readonly
        self._busy_timeout_s = busy_timeout_s
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self.errors = 0
        self.last_error = ""
        try:
            self._db = self._thread.submit(self._open).result()
        except JournalError:
            self._thread.shutdown(wait=True)
            raise

    # All sqlite work happens on the journal thread: the connection is created there.
    def _open(self) -> sqlite3.Connection:
        """Connect and check; only a file SQLite calls corrupt is set aside, every other failure changes nothing."""
        db: sqlite3.Connection | None = None
        try:
            if self._readonly:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_s
                )
                db.execute("PRAGMA journal_mode=WAL")
                _check_writable(db)
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            if not _is_corrupt(exc):
                raise JournalUnavailableError(
                    f"journal {self.path} cannot be opened ({exc}); nothing was changed"
                ) from None
            self._set_aside(str(exc))
        except OSError as exc:
            raise JournalUnavailableError(
                f"journal {self.path} cannot be opened ({exc.strerror}); nothing was changed"
            ) from None
        if check != "ok":
            db.close()
            self._set_aside(f"integrity check: {check}")
        return db

    def _set_aside(self, problem: str) -> NoReturn:
        """Raise JournalCorruptError after renaming the file out of the way (a reader only reports it)."""
        if self._readonly:
            raise JournalCorruptError(
                f"journal {self.path} is damaged ({problem}); the next start sets it aside"
            )
        try:
            aside = _set_aside(self.path, self._clock_ms())
        except OSError as exc:
            raise JournalUnavailableError(
                f"journal {self.path} is damaged ({problem}) and cannot be set aside ({exc.strerror})"
            ) from None
        raise JournalCorruptError(
            f"journal {self.path} is damaged ({problem}); kept aside as {aside.name}, starting a new one"
        )

    def _write(self, rows: list[tuple[int, str, str, str, bytes]]) -> int:
        try:
            self._db.execute("BEGIN")
            cur = None
            for row in rows:
                cur = self._db.execute(
                    "INSERT INTO events(ts_ms, kind, symbol, ref, payload) VALUES (?,?,?,?,?)", row
                )
            self._db.execute("COMMIT")
            return (cur.lastrowid or 0) if cur is not None else 0
        except sqlite3.Error as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.errors += 1
            self.last_error = str(exc)
            raise JournalError(f"journal write failed: {exc}") from None

    def _row(
        self, kind: JournalKind, payload: Any, symbol: str, ref: str
    ) -> tuple[int, str, str, str, bytes]:
        return (self._clock_ms(), kind, symbol, ref, _encoder.encode(payload))

    def append(
        self, kind: JournalKind, payload: Any, *, symbol: str = "", ref: str = ""
    ) -> concurrent.futures.Future[int]:
        """Queue one event; returns a future of its sequence number. Failures are counted and logged."""
        fut = self._thread.submit(self._write, [self._row(kind, payload, symbol, ref)])
        fut.add_done_callback(self._log_failure)
        return fut

    def _log_failure(self, fut: concurrent.futures.Future[int]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            log.error("%s", fut.exception())

    async def commit(self, kind: JournalKind, payload: Any, *, symbol: str = "", ref: str = "") -> int:
        """Write one event and wait until it is durable (fsync'd by SQLite's FULL mode)."""
        return await asyncio.wrap_future(self.append(kind, payload, symbol=symbol, ref=ref))

    # Hooks the OrderExecutor calls around every send.
    async def record_intent(self, request: Any) -> None:
        await self.commit(K.INTENT, request, symbol=request.symbol, ref=request.client_id)

    def record_ack(self, update: Any) -> None:
        self.append(K.ACK, update, symbol=update.symbol, ref=update.client_id)

    def record_order(self, update: Any) -> None:
        self.append(K.ORDER, update, symbol=update.symbol, ref=update.client_id)

    def record_bracket(self, bracket: Any) -> None:
        self.append(K.BRACKET, bracket, symbol=bracket.symbol, ref=bracket.id)

    def record_session(self, clock: Clock) -> None:
        """Where this process's clock stands against the wall: readers measure `--since` on that clock."""
        wall_ms = time.time_ns() // 1_000_000
        payload = {
            "pid": os.getpid(),
            "clock": clock.label,
            "simulated": clock.is_simulated,
            "speed": clock.speed,
            "wall_ms": wall_ms,
        }
        self.append(K.SESSION, payload)

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
        def query() -> list[tuple[Any, ...]]:
            sql = "SELECT seq, ts_ms, kind, symbol, ref, payload FROM events WHERE seq > ?"
            args: list[Any] = [after_seq]
            if since_ms is not None:
                sql += " AND ts_ms >= ?"
                args.append(since_ms)
            return self._db.execute(sql + " ORDER BY seq", args).fetchall()

        for seq, ts, kind, symbol, ref, payload in self._thread.submit(query).result():
            yield JournalEntry(seq, ts, JournalKind(kind), symbol, ref, msgspec.json.decode(payload))

    def closed_brackets(self, page: int = 1000) -> Iterator[JournalEntry]:
        """Every CLOSED bracket record, oldest first, read a page at a time (a journal grows long)."""
        sql = (
            "SELECT seq, ts_ms, kind, symbol, ref, payload FROM events WHERE kind = ? AND seq > ?"
            " AND json_extract(CAST(payload AS TEXT), '$.state') = ? ORDER BY seq LIMIT ?"
        )

        def page_after(after: int) -> list[tuple[Any, ...]]:
            args = (K.BRACKET.value, after, BracketState.CLOSED.value, page)
            return self._db.execute(sql, args).fetchall()

        after = 0
        while True:
            rows = self._thread.submit(page_after, after).result()
            for seq, ts, kind, symbol, ref, payload in rows:
                yield JournalEntry(seq, ts, JournalKind(kind), symbol, ref, msgspec.json.decode(payload))
            if len(rows) < page:
                return
            after = rows[-1][0]

    def last_seq(self) -> int:
        def query() -> int:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
            return int(row[0])

        return self._thread.submit(query).result()

    def last_session(self) -> JournalEntry | None:
        """The newest SESSION event: the clock the newest process wrote with."""
        return self._last(f"WHERE kind = '{K.SESSION}'")

    def last_entry(self) -> JournalEntry | None:
        return self._last("")

    def _last(self, where: str) -> JournalEntry | None:
        sql = f"SELECT seq, ts_ms, kind, symbol, ref, payload FROM events {where} ORDER BY seq DESC LIMIT 1"
        row = self._thread.submit(lambda: self._db.execute(sql).fetchone()).result()
        if row is None:
            return None
        seq, ts, kind, symbol, ref, payload = row
        return JournalEntry(seq, ts, JournalKind(kind), symbol, ref, msgspec.json.decode(payload))

    def unacked_intents(self, after_seq: int = 0) -> list[JournalEntry]:
        """Intents after `after_seq` with no ACK or ORDER event for the same client id: outcome unknown."""
        entries = self.read(after_seq)
        answered = {e.ref for e in entries if e.kind in (K.ACK, K.ORDER)}
        return [e for e in entries if e.kind is K.INTENT and e.ref not in answered]


def open_journal(path: Path, clock_ms: Callable[[], int] | None = None) -> Journal:
    """The writer's journal: a damaged file is set aside (said in the log) and a new one started.

    Raises JournalUnavailableError when the journal cannot be used for any other reason: the operator fixes
    that (permissions, a full or failing disk, another program holding the file), nothing is moved.
    """
    try:
        return Journal(path, clock_ms)
    except JournalCorruptError as exc:
        log.error("%s", exc)
    return Journal(path, clock_ms)


_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def _is_corrupt(exc: sqlite3.Error) -> bool:
    """True only for SQLite's verdict on the file's contents (the primary code, not the extended one)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES


def _check_writable(db: sqlite3.Connection) -> None:
    """Fail now if writes would fail later: SQLite opens a file it may not write read-only, silently.

    A header write inside a transaction that is rolled back: it needs write access and changes nothing.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(f"PRAGMA user_version = {int(version)}")
    finally:
        db.execute("ROLLBACK")


def _set_aside(path: Path, now_ms: int) -> Path:
    """Rename a bad journal (and its WAL) out of the way; it is never deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(aside) + suffix))
    return aside
