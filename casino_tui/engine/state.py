"""The engine's durable state besides the journal, as one snapshot (saved by `casino_tui.storage`)."""

from __future__ import annotations

from typing import Any

import msgspec

from casino_tui.engine.croupier import Croupier
from casino_tui.engine.journal import Journal
from casino_tui.engine.player import AdaptivePlayer
from casino_tui.port import BreakerStatus, Exchange


class PersistedState(msgspec.Struct, kw_only=True):
    """What survives a restart besides the journal: enough to resume without asking the exchange twice."""

    version: int = 1
    saved_ms: int = 0
    journal_seq: int = 0  # the journal events up to here are reflected in this snapshot
    paused: bool = False
    next_bracket_seq: int = 1
    brackets: list[Any] = msgspec.field(default_factory=list)  # Bracket structs as dicts
    weights: dict[str, Any] = msgspec.field(default_factory=dict)
    breakers: dict[str, Any] = msgspec.field(default_factory=dict)


def saved_breakers(exchange: Exchange) -> dict[str, Any]:
    """Open breakers and how long they still have to cool down, for the snapshot."""
    return {
        b.name: {"state": b.state, "reason": b.reason, "cooldown_s": b.cooldown_s}
        for b in exchange.health().breakers
        if b.state is not BreakerStatus.CLOSED
    }


def capture_state(
    croupier: Croupier,
    player: AdaptivePlayer | None,
    exchange: Exchange,
    journal: Journal | None,
    *,
    now_ms: int,
    paused: bool,
) -> PersistedState:
    """The durable state now, reflecting the journal up to its newest event."""
    return PersistedState(
        saved_ms=now_ms,
        journal_seq=journal.last_seq() if journal is not None else 0,
        paused=paused,
        next_bracket_seq=croupier.next_bracket_seq,
        brackets=[msgspec.to_builtins(b) for b in croupier.brackets],
        weights=player.weights_state() if player is not None else {},
        breakers=saved_breakers(exchange),
    )
