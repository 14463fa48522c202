"""Recovery from the state directory: the snapshot, then the journal tail replayed on top of it; and our client
ids read back into their parts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from casino_tui.engine.brackets.machine import Bracket, Leg, bracket_id, client_id
from casino_tui.engine.clientids import ClientOrderId, parse_client_id
from casino_tui.engine.journal import Journal
from casino_tui.engine.recovery import restore
from casino_tui.engine.state import PersistedState
from casino_tui.model import BracketState, JournalKind, OrderRequest, OrderType, Side
from casino_tui.storage import SnapshotStore

SYMBOL = "BTCUSDT"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "snapshots")


def protected(seq: int) -> Bracket:
    return Bracket(
        id=bracket_id(seq),
        seq=seq,
        symbol=SYMBOL,
        side=Side.BUY,
        qty=0.01,
        entry_client_id=client_id(seq, Leg.ENTRY, 0, SYMBOL),
        tp_client_id=client_id(seq, Leg.TP, 0, SYMBOL),
        sl_client_id=client_id(seq, Leg.SL, 0, SYMBOL),
        entry_price=100.0,
        state=BracketState.PROTECTED,
        tp_acked=True,
        sl_acked=True,
    )


def intent(journal: Journal, cid: str, order_type: OrderType = OrderType.STOP_MARKET) -> None:
    request = OrderRequest(SYMBOL, Side.SELL, order_type, 0.01, cid, close_position=True, trigger_price=90.0)
    asyncio.run(journal.record_intent(request))


def test_a_client_id_reads_back_into_the_parts_it_was_made_of() -> None:
    cid = client_id(42, Leg.SL, 13, SYMBOL)
    assert parse_client_id(cid) == ClientOrderId(seq=42, leg=Leg.SL, generation=3)


@pytest.mark.parametrize(
    "foreign", ["", "web_abc123", "ct12345", "ctabcdefS0", "ct000042X0abcd", "ct000042Sx"]
)
def test_an_id_this_program_did_not_make_reads_as_none(foreign: str) -> None:
    assert parse_client_id(foreign) is None


def test_without_snapshot_or_journal_nothing_is_restored(store: SnapshotStore, journal: Journal) -> None:
    restored = restore(store, journal)
    assert (restored.brackets, restored.paused, restored.next_bracket_seq) == ([], False, 1)


def test_the_journal_tail_overrides_the_snapshot(store: SnapshotStore, journal: Journal) -> None:
    store.save(PersistedState(brackets=[msgspec.to_builtins(protected(1))], next_bracket_seq=2))
    closed = msgspec.structs.replace(protected(1), state=BracketState.CLOSED)
    journal.append(JournalKind.BRACKET, closed, ref=closed.id)
    journal.append(JournalKind.PAUSE, {"paused": True}).result()

    restored = restore(store, journal)

    assert [(b.id, b.state) for b in restored.brackets] == [("B000001", BracketState.CLOSED)]
    assert restored.active == [] and restored.paused


def test_events_the_snapshot_already_holds_are_not_replayed(store: SnapshotStore, journal: Journal) -> None:
    journal.append(JournalKind.PAUSE, {"paused": True}).result()
    store.save(PersistedState(journal_seq=journal.last_seq(), paused=False))

    restored = restore(store, journal)

    assert not restored.paused and restored.journal_seq == 1


def test_an_intent_sent_after_the_last_record_puts_its_leg_back_on_the_bracket(
    store: SnapshotStore, journal: Journal
) -> None:
    store.save(PersistedState(brackets=[msgspec.to_builtins(protected(7))], next_bracket_seq=8))
    replacement = client_id(7, Leg.SL, 1, SYMBOL)  # the stop re-placed, then the process died
    intent(journal, replacement)

    (bracket,) = restore(store, journal).brackets

    assert bracket.sl_client_id == replacement
    assert (bracket.sl_generation, bracket.sl_acked) == (1, False), "unacknowledged until the exchange says"
    assert bracket.tp_client_id == client_id(7, Leg.TP, 0, SYMBOL) and bracket.tp_acked


def test_an_intent_keeps_its_sequence_number_taken_even_when_its_bracket_is_lost(
    store: SnapshotStore, journal: Journal
) -> None:
    intent(journal, client_id(12, Leg.ENTRY, 0, SYMBOL), OrderType.MARKET)
    assert restore(store, journal).next_bracket_seq == 13
