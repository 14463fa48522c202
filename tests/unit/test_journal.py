"""Journal: intents durable before the send, ordered replay, unacked intents, corrupt files set aside (and
only those: permission, lock and I/O errors change nothing)."""

import asyncio
import sqlite3

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from casino_tui.clock import ManualClock
from casino_tui.engine.audit import format_entry, print_journal
from casino_tui.engine.journal import (
    Journal,
    JournalCorruptError,
    JournalError,
    JournalUnavailableError,
    open_journal,
)
from casino_tui.model import JournalKind, OrderRequest, OrderStatus, OrderType, OrderUpdate, Side


def request(cid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.01, cid)


def test_intent_is_on_disk_when_commit_returns(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")

    async def go():
        await journal.record_intent(request("ct1E"))

    asyncio.run(go())
    # A second connection (another process after a crash) sees it without any flush.
    other = Journal(tmp_path / "j.sqlite3")
    assert [e.ref for e in other.read()] == ["ct1E"]
    other.close()
    journal.close()


def test_unacked_intents_are_those_without_ack_or_order_event(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    asyncio.run(journal.record_intent(request("a")))
    asyncio.run(journal.record_intent(request("b")))
    journal.record_ack(OrderUpdate("BTCUSDT", "a", "1", Side.BUY, OrderType.MARKET, OrderStatus.FILLED, 0.01))
    journal.flush()
    assert [e.ref for e in journal.unacked_intents()] == ["b"]
    journal.close()


def test_corrupt_journal_is_kept_aside_with_a_clear_message(tmp_path):
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="kept aside"):
        Journal(path)
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    fresh = Journal(path)  # a new journal can then be started
    assert fresh.read() == []
    fresh.close()


def test_journal_that_cannot_be_opened_is_unavailable_and_nothing_is_renamed(tmp_path):
    path = tmp_path / "j.sqlite3"
    path.mkdir()  # SQLite cannot open it: an I/O problem, not a damaged file
    with pytest.raises(JournalUnavailableError, match="nothing was changed"):
        Journal(path)
    assert path.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["j.sqlite3"]


def test_journal_locked_by_another_program_is_unavailable_and_its_bytes_unchanged(tmp_path):
    path = tmp_path / "j.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t(x)")
    before = path.read_bytes()
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalUnavailableError, match="database is locked"):
            Journal(path, busy_timeout_s=0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_open_journal_sets_a_damaged_file_aside_and_starts_a_fresh_one(tmp_path, caplog):
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    journal = open_journal(path)
    assert journal.read() == []
    journal.close()
    assert any("kept aside" in r.getMessage() for r in caplog.records)
    (aside,) = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert aside.read_bytes() == b"garbage" * 1000


def test_set_aside_name_is_stamped_with_the_journal_clock(tmp_path):
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(JournalCorruptError):
        Journal(path, ManualClock().now_ms)
    assert [p.name for p in tmp_path.iterdir()] == ["j.sqlite3.corrupt-20260101T000000Z"]


def test_a_reader_reports_a_damaged_journal_but_never_moves_it(tmp_path):
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(JournalCorruptError, match="next start sets it aside"):
        Journal(path, readonly=True)
    assert [p.name for p in tmp_path.iterdir()] == ["j.sqlite3"]


def test_print_journal_of_a_damaged_file_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    assert print_journal(path, None) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "damaged" in err
    assert path.exists()


def test_print_journal_lists_events(tmp_path, capsys):
    journal = Journal(tmp_path / "j.sqlite3")
    asyncio.run(journal.record_intent(request("ct9E")))
    journal.append(JournalKind.BRACKET, {"id": "b9", "state": "PROTECTED"}, symbol="BTCUSDT", ref="b9")
    journal.close()
    assert print_journal(tmp_path / "j.sqlite3", None) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "INTENT" in out[0] and "ct9E" in out[0] and "state=PROTECTED" in out[1]


class JournalReplay(RuleBasedStateMachine):
    """Random appends and crashes (close without flush, reopen): replay always equals what was written."""

    def __init__(self):
        super().__init__()
        import tempfile
        from pathlib import Path

        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "j.sqlite3"
        self.journal = Journal(self.path)
        self.model: list[tuple[str, str, dict]] = []
        self.brackets: dict[str, str] = {}

    @rule(cid=st.text("abcdef0123", min_size=1, max_size=8))
    def intent(self, cid):
        asyncio.run(self.journal.record_intent(request(cid)))
        self.model.append((JournalKind.INTENT, cid, {}))

    @rule(cid=st.text("abcdef0123", min_size=1, max_size=8))
    def ack(self, cid):
        self.journal.append(JournalKind.ACK, {"client_id": cid}, ref=cid).result()
        self.model.append((JournalKind.ACK, cid, {"client_id": cid}))

    @rule(
        bid=st.sampled_from(["b1", "b2", "b3"]),
        state=st.sampled_from(["PENDING_ENTRY", "PROTECTED", "CLOSED"]),
    )
    def transition(self, bid, state):
        payload = {"id": bid, "state": state}
        self.journal.append(JournalKind.BRACKET, payload, ref=bid).result()
        self.model.append((JournalKind.BRACKET, bid, payload))
        self.brackets[bid] = state

    @rule()
    def crash_and_reopen(self):
        # Every append above was awaited (durable); dropping the connection loses nothing.
        self.journal._thread.shutdown(wait=True)
        self.journal = Journal(self.path)

    @invariant()
    def replay_matches(self):
        entries = self.journal.read()
        assert [(e.kind, e.ref) for e in entries] == [(k, r) for k, r, _ in self.model]
        replayed: dict[str, str] = {}
        for e in entries:
            if e.kind == JournalKind.BRACKET:
                replayed[e.ref] = e.payload["state"]
        assert replayed == self.brackets
        assert [e.seq for e in entries] == sorted(e.seq for e in entries)

    def teardown(self):
        self.journal.close()
        self.dir.cleanup()


TestJournalReplay = JournalReplay.TestCase
TestJournalReplay.settings = settings(max_examples=15, stateful_step_count=12, deadline=None)


def test_format_entry_is_one_line(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append(
        JournalKind.BRACKET, {"id": "b1", "state": "CLOSED", "reason": "TP"}, symbol="ETHUSDT", ref="b1"
    ).result()
    (entry,) = journal.read()
    journal.close()
    line = format_entry(entry)
    assert "\n" not in line and "ETHUSDT" in line and "reason=TP" in line
