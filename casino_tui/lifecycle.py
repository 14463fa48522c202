"""The runtime's lifecycle as an explicit machine: its statuses and the moves between them.

The legal moves are a table; anything else raises `IllegalStatusMove`, so a bug in the start-up or shutdown
order shows up as an error instead of a header that says RUNNING while the runtime is stopping.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class RuntimeStatus(enum.StrEnum):
    STARTING = "STARTING"  # rules, recovered state, history, sensors; or connecting once LIVE is confirmed
    UNCONFIRMED = "UNCONFIRMED"  # LIVE: market data only, until the operator confirms
    RECOVERING = "RECOVERING"  # unanswered intents looked up, then reconcile with the exchange
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # no new entries; open brackets stay managed
    STOPPING = "STOPPING"  # the orderly shutdown: sweep (if asked), exit check, report, disconnect, save
    STOPPED = "STOPPED"

    @property
    def is_ready(self) -> bool:
        """Started and not stopping: commands act, and stale market data is news."""
        return self in (RuntimeStatus.RUNNING, RuntimeStatus.PAUSED)


_S = RuntimeStatus
TRANSITIONS: Mapping[RuntimeStatus, frozenset[RuntimeStatus]] = {
    # STOPPING from any status but the last: a stop may come during start-up, which then ends at once.
    _S.STARTING: frozenset({_S.UNCONFIRMED, _S.RECOVERING, _S.STOPPING}),
    _S.UNCONFIRMED: frozenset({_S.STARTING, _S.STOPPING}),  # STARTING again: confirmed, the account connects
    _S.RECOVERING: frozenset({_S.RUNNING, _S.PAUSED, _S.STOPPING}),  # PAUSED: the last run was paused
    _S.RUNNING: frozenset({_S.PAUSED, _S.STOPPING}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.STOPPED: frozenset(),
}


class IllegalStatusMove(Exception):
    """The runtime was asked to move along an edge that is not in `TRANSITIONS`."""


class Lifecycle:
    """The runtime's current status; it changes only through `move`, which follows `TRANSITIONS`."""

    def __init__(self) -> None:
        self._status = RuntimeStatus.STARTING

    @property
    def status(self) -> RuntimeStatus:
        return self._status

    def move(self, new: RuntimeStatus) -> None:
        """Move to `new`, or raise IllegalStatusMove if the table does not allow it."""
        if new not in TRANSITIONS[self._status]:
            raise IllegalStatusMove(f"runtime: {self._status} -> {new} is not allowed")
        self._status = new
