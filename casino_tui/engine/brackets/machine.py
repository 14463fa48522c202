"""Brackets: one entry with its take-profit and stop-loss legs, and the state machine it moves through.

The states and close reasons are enums in the model (the snapshot and the console read them); the legal
transitions are a table here, and anything else raises `IllegalTransition` (and is logged), so a bug in the
OCO logic shows up as an error instead of a bracket quietly sitting in a state it should never reach.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Mapping

import msgspec

from casino_tui.model import BracketState, CloseReason, Side

log = logging.getLogger("casino.brackets")


class Leg(enum.StrEnum):
    """Which of a bracket's orders an exchange update is about; the value is the client-id letter."""

    ENTRY = "E"
    TP = "T"
    SL = "S"
    CLOSE = "C"


_S = BracketState
TRANSITIONS: Mapping[BracketState, frozenset[BracketState]] = {
    # CLOSING from PENDING_ENTRY: a sweep caught the entry in flight.
    _S.PENDING_ENTRY: frozenset({_S.OPEN_UNPROTECTED, _S.ENTRY_REJECTED, _S.CLOSING}),
    # CLOSING straight from OPEN_UNPROTECTED: a leg fired before the other was acknowledged, or a sweep.
    _S.OPEN_UNPROTECTED: frozenset({_S.PROTECTED, _S.PROTECT_FAILED, _S.CLOSING, _S.CLOSED}),
    # Back to OPEN_UNPROTECTED: a leg was cancelled or expired behind our back and is being re-placed.
    _S.PROTECTED: frozenset({_S.OPEN_UNPROTECTED, _S.CLOSING, _S.CLOSED}),
    _S.PROTECT_FAILED: frozenset({_S.CLOSING, _S.CLOSED}),
    _S.CLOSING: frozenset({_S.CLOSED}),
    _S.ENTRY_REJECTED: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}


class IllegalTransition(Exception):
    """A bracket was asked to move along an edge that is not in `TRANSITIONS`."""


def bracket_id(seq: int) -> str:
    return f"B{seq:06d}"


def client_id(seq: int, leg: Leg, generation: int, symbol: str) -> str:
    """Deterministic client order id, e.g. `ct000042S0a1b2c3d4` (matches ^[.A-Z:/a-z0-9_-]{1,36}$).

    `seq` comes from a persisted counter, so ids never repeat across restarts; `generation` counts re-placed
    legs; the symbol hash keeps ids of different symbols apart even if a counter were ever reused.
    """
    digest = hashlib.blake2s(symbol.encode(), digest_size=4).hexdigest()
    return f"ct{seq:06d}{leg.value}{generation % 10}{digest}"


class Bracket(msgspec.Struct, kw_only=True):
    """One position's life: entry, protection (TP + SL), exit. Mutable; only `transition` changes `state`."""

    id: str
    seq: int
    symbol: str
    side: Side
    qty: float
    entry_client_id: str
    tp_client_id: str = ""
    sl_client_id: str = ""
    close_client_id: str = ""
    entry_price: float = 0.0
    tp_price: float = 0.0
    sl_price: float = 0.0
    exit_price: float = 0.0
    state: BracketState = BracketState.PENDING_ENTRY
    close_reason: CloseReason = CloseReason.NONE
    tp_acked: bool = False
    sl_acked: bool = False
    tp_generation: int = 0
    sl_generation: int = 0
    close_generation: int = 0
    created_ms: int = 0
    opened_ms: int = 0
    closed_ms: int = 0
    realized_pnl: float = 0.0
    fees: float = 0.0
    note: str = ""

    @property
    def is_protected(self) -> bool:
        return self.state is BracketState.PROTECTED and self.tp_acked and self.sl_acked

    @property
    def is_active(self) -> bool:
        return self.state.is_active

    @property
    def has_entry_fill(self) -> bool:
        return self.entry_price > 0.0

    @property
    def is_at_risk(self) -> bool:
        """It holds a position (entry filled, not CLOSED) whose stop-loss the exchange has not acknowledged:
        the worst state the system can be in (DESIGN.md §5); a missing take-profit alone is not a risk."""
        return self.is_active and self.has_entry_fill and not self.sl_acked

    def leg_client_id(self, leg: Leg) -> str:
        if leg is Leg.ENTRY:
            return self.entry_client_id
        if leg is Leg.TP:
            return self.tp_client_id
        if leg is Leg.SL:
            return self.sl_client_id
        return self.close_client_id

    def transition(
        self, new: BracketState, reason: CloseReason | None = None, now_ms: int | None = None
    ) -> None:
        """Move to `new` if the table allows it (else raise IllegalTransition); `reason` sets `close_reason`."""
        old = self.state
        if new not in TRANSITIONS[old]:
            log.error(
                "bracket %s: illegal transition %s -> %s", self.id, old, new, extra={"symbol": self.symbol}
            )
            raise IllegalTransition(f"bracket {self.id} ({self.symbol}): {old} -> {new} is not allowed")
        self.state = new
        if reason is not None:
            self.close_reason = reason
        if new is BracketState.CLOSED and now_ms is not None:
            self.closed_ms = now_ms
        log.info(
            "bracket %s %s -> %s%s",
            self.id,
            old,
            new,
            f" ({self.close_reason})" if self.close_reason else "",
            extra={"symbol": self.symbol},
        )
