"""The runtime's lifecycle machine: every move follows TRANSITIONS or raises, and the table itself says what
the runtime promises (a stop is possible from every status, STOPPED is final, trading needs recovery first)."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from casino_tui.lifecycle import TRANSITIONS, IllegalStatusMove, Lifecycle, RuntimeStatus

S = RuntimeStatus


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lifecycle = Lifecycle()
        self.model = S.STARTING
        self.path = [self.model]

    @rule(new=st.sampled_from(list(RuntimeStatus)))
    def move(self, new: RuntimeStatus) -> None:
        if new in TRANSITIONS[self.model]:
            self.lifecycle.move(new)
            self.model = new
            self.path.append(new)
        else:
            with pytest.raises(IllegalStatusMove):
                self.lifecycle.move(new)

    @invariant()
    def status_matches_the_model(self) -> None:
        assert self.lifecycle.status is self.model, self.path


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(max_examples=200, stateful_step_count=15, deadline=None)


def test_every_status_has_its_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(RuntimeStatus)


def test_a_stop_can_begin_from_every_status_before_stopping() -> None:
    for status in RuntimeStatus:
        if status not in (S.STOPPING, S.STOPPED):
            assert S.STOPPING in TRANSITIONS[status], status


def test_stopped_is_final_and_only_stopping_leads_there() -> None:
    assert TRANSITIONS[S.STOPPED] == frozenset()
    assert [status for status, moves in TRANSITIONS.items() if S.STOPPED in moves] == [S.STOPPING]


def test_trading_is_reached_only_through_recovery() -> None:
    into_trading = {status for status, moves in TRANSITIONS.items() if moves & {S.RUNNING, S.PAUSED}}
    assert into_trading == {S.RECOVERING, S.RUNNING, S.PAUSED}


def test_a_live_runtime_waiting_for_confirmation_never_recovers_or_trades_directly() -> None:
    assert TRANSITIONS[S.UNCONFIRMED] == frozenset({S.STARTING, S.STOPPING})


def test_only_running_and_paused_are_ready() -> None:
    assert {status for status in RuntimeStatus if status.is_ready} == {S.RUNNING, S.PAUSED}


def test_an_illegal_move_leaves_the_status_unchanged() -> None:
    lifecycle = Lifecycle()
    with pytest.raises(IllegalStatusMove, match="STARTING -> RUNNING"):
        lifecycle.move(S.RUNNING)
    assert lifecycle.status is S.STARTING
