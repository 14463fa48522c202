"""`casino-tui journal`: read-only, and `--since` measured on the clock the journal was written with."""

import os
import time

import pytest

from casino_tui.clock import ManualClock, WallClock
from casino_tui.engine.audit import print_journal
from casino_tui.engine.journal import Journal
from casino_tui.model import JournalKind
from casino_tui.statelock import StateLock

MINUTE = 60_000


def sim_session(
    path, clock: ManualClock, *, anchor_wall_ms: int, speed: float, offsets_ms: list[int]
) -> None:
    """A journal written on a simulated clock: the session anchor at the clock's start, then one BRACKET
    event per offset (ms of sim time after the anchor), refs `e<offset>`."""
    journal = Journal(path, clock.now_ms)
    anchor = {"pid": os.getpid(), "simulated": True, "speed": speed, "wall_ms": anchor_wall_ms}
    journal.append(JournalKind.SESSION, anchor).result()
    start = clock.now_ms()
    for offset in offsets_ms:
        clock.set(start + offset)
        journal.append(
            JournalKind.BRACKET, {"state": "PROTECTED"}, symbol="BTCUSDT", ref=f"e{offset}"
        ).result()
    journal.close()


def printed_refs(capsys) -> list[str]:
    """The refs of the BRACKET lines `print_journal` wrote."""
    return [line.split()[5] for line in capsys.readouterr().out.splitlines() if " BRACKET " in line]


def test_since_on_a_stopped_sim_session_counts_back_from_its_last_event(tmp_path, capsys):
    path = tmp_path / "journal.sqlite3"
    # Sim time runs hours away from the wall clock, as a 30x session does after a few minutes.
    sim_session(
        path,
        ManualClock(),
        anchor_wall_ms=0,
        speed=30.0,
        offsets_ms=[0, 50 * MINUTE, 59 * MINUTE, 60 * MINUTE],
    )
    assert print_journal(path, "90s", tmp_path / "casino.lock") == 0
    assert printed_refs(capsys) == [f"e{59 * MINUTE}", f"e{60 * MINUTE}"]


def test_since_on_a_running_sim_session_counts_back_from_its_clock_now(tmp_path, capsys):
    path = tmp_path / "journal.sqlite3"
    wall = time.time_ns() // 1_000_000
    # Anchored 5 wall minutes ago at 1x: the running clock now stands about 5 minutes past its anchor.
    sim_session(
        path, ManualClock(), anchor_wall_ms=wall - 5 * MINUTE, speed=1.0, offsets_ms=[215_000, 270_000]
    )
    with StateLock(tmp_path / "casino.lock"):  # this process is the session's (its pid is in the anchor)
        assert print_journal(path, "60s", tmp_path / "casino.lock") == 0
    # Counted back from the last event, 215 s would be in; counted from the clock's now (~300 s), it is not.
    assert printed_refs(capsys) == ["e270000"]


def test_since_on_the_wall_clock_counts_back_from_the_wall(tmp_path, capsys):
    path = tmp_path / "journal.sqlite3"
    now = time.time_ns() // 1_000_000
    stamps = iter([now - 5 * MINUTE, now - 3 * MINUTE, now - 10_000])
    journal = Journal(path, lambda: next(stamps))
    journal.record_session(WallClock())
    for ref in ("old", "new"):
        journal.append(JournalKind.BRACKET, {"state": "PROTECTED"}, symbol="BTCUSDT", ref=ref).result()
    journal.close()
    assert print_journal(path, "60s", tmp_path / "casino.lock") == 0
    assert printed_refs(capsys) == ["new"]


def test_a_bad_since_is_a_usage_error_even_without_a_journal(tmp_path):
    with pytest.raises(ValueError, match="--since"):
        print_journal(tmp_path / "none.sqlite3", "yesterday-ish")
