"""The bracket state machine: every edge in the table works, every edge outside it raises."""

import re

import msgspec
import pytest

from casino_tui.engine.brackets.machine import TRANSITIONS, Bracket, IllegalTransition, Leg, client_id
from casino_tui.model import BracketState, CloseReason, Side

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def make(state: BracketState = BracketState.PENDING_ENTRY) -> Bracket:
    return Bracket(
        id="B000001", seq=1, symbol="BTCUSDT", side=Side.BUY, qty=0.01, entry_client_id="e", state=state
    )


ALL_EDGES = [(a, b) for a in BracketState for b in BracketState]
LEGAL = [(a, b) for a, b in ALL_EDGES if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_EDGES if b not in TRANSITIONS[a]]


def test_table_covers_every_state():
    assert set(TRANSITIONS) == set(BracketState)


@pytest.mark.parametrize(("old", "new"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_transition_moves_the_state(old, new):
    bracket = make(old)
    bracket.transition(new)
    assert bracket.state is new


@pytest.mark.parametrize(("old", "new"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_raises_and_keeps_the_state(old, new, caplog):
    bracket = make(old)
    with pytest.raises(IllegalTransition):
        bracket.transition(new)
    assert bracket.state is old, "a refused transition must not change the state"
    assert any("illegal transition" in r.getMessage() for r in caplog.records), (
        "illegal transitions are logged"
    )


def test_closed_is_terminal_and_happy_path_reaches_it():
    bracket = make()
    for state in (BracketState.OPEN_UNPROTECTED, BracketState.PROTECTED, BracketState.CLOSING):
        bracket.transition(state)
    bracket.transition(BracketState.CLOSED, CloseReason.TP, now_ms=123)
    assert (bracket.state, bracket.close_reason, bracket.closed_ms) == (
        BracketState.CLOSED,
        CloseReason.TP,
        123,
    )
    assert TRANSITIONS[BracketState.CLOSED] == frozenset()


def test_protect_failed_leads_to_closing():
    assert BracketState.CLOSING in TRANSITIONS[BracketState.PROTECT_FAILED]
    assert BracketState.PROTECTED not in TRANSITIONS[BracketState.PROTECT_FAILED]


def test_is_protected_needs_both_legs_acknowledged():
    bracket = make(BracketState.PROTECTED)
    bracket.sl_acked = True
    assert not bracket.is_protected
    bracket.tp_acked = True
    assert bracket.is_protected
    bracket.transition(BracketState.OPEN_UNPROTECTED)
    assert not bracket.is_protected


@pytest.mark.parametrize(
    "state", [BracketState.OPEN_UNPROTECTED, BracketState.PROTECT_FAILED, BracketState.CLOSING]
)
def test_a_filled_bracket_whose_stop_is_not_acknowledged_is_at_risk(state):
    bracket = make(state)
    bracket.entry_price, bracket.tp_acked = 100.0, True
    assert bracket.is_at_risk, "a take-profit alone does not protect the position"
    bracket.sl_acked = True
    assert not bracket.is_at_risk


@pytest.mark.parametrize("state", [BracketState.PENDING_ENTRY, BracketState.ENTRY_REJECTED])
def test_a_bracket_whose_entry_has_not_filled_is_not_at_risk(state):
    assert not make(state).is_at_risk


def test_a_closed_bracket_is_not_at_risk_even_if_its_stop_never_was_acknowledged():
    bracket = make(BracketState.CLOSED)
    bracket.entry_price = 100.0
    assert not bracket.is_at_risk


@pytest.mark.parametrize("seq", [1, 42, 999_999, 123_456_789])
def test_client_ids_are_deterministic_valid_and_distinct_per_leg(seq):
    ids = {client_id(seq, leg, gen, "BTCUSDT") for leg in Leg for gen in range(3)}
    assert len(ids) == len(Leg) * 3
    for cid in ids:
        assert CLIENT_ID_RE.match(cid), cid
    assert client_id(seq, Leg.SL, 0, "BTCUSDT") == client_id(seq, Leg.SL, 0, "BTCUSDT")
    assert client_id(seq, Leg.SL, 0, "BTCUSDT") != client_id(seq, Leg.SL, 0, "ETHUSDT")


def test_bracket_round_trips_through_msgspec_json():
    bracket = make(BracketState.PROTECTED)
    bracket.close_reason = CloseReason.SWEEP
    restored = msgspec.json.decode(msgspec.json.encode(bracket), type=Bracket)
    assert restored == bracket
    assert restored.state is BracketState.PROTECTED
