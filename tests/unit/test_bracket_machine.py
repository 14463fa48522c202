"""Hypothesis stateful test of the bracket state machine: every move follows TRANSITIONS or raises."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from casino_tui.engine.brackets.machine import TRANSITIONS, Bracket, IllegalTransition
from casino_tui.model import BracketState, CloseReason, Side


class BracketMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.bracket = Bracket(
            id="B000001", seq=1, symbol="BTCUSDT", side=Side.BUY, qty=0.01, entry_client_id="e"
        )
        self.model = BracketState.PENDING_ENTRY
        self.path = [self.model]

    @rule(new=st.sampled_from(list(BracketState)), reason=st.sampled_from(list(CloseReason)))
    def move(self, new: BracketState, reason: CloseReason) -> None:
        if new in TRANSITIONS[self.model]:
            self.bracket.transition(new, reason)
            self.model = new
            self.path.append(new)
        else:
            try:
                self.bracket.transition(new, reason)
            except IllegalTransition:
                pass
            else:
                raise AssertionError(f"{self.model} -> {new} was accepted but is not in TRANSITIONS")

    @invariant()
    def state_matches_the_model(self) -> None:
        assert self.bracket.state is self.model, self.path

    @invariant()
    def closed_is_final_and_only_closed_is_inactive(self) -> None:
        assert self.bracket.is_active == (self.model is not BracketState.CLOSED)
        if self.model is BracketState.CLOSED:
            assert TRANSITIONS[self.model] == frozenset()


TestBracketMachine = BracketMachine.TestCase
TestBracketMachine.settings = settings(max_examples=200, stateful_step_count=15, deadline=None)
