"""Recovery after a restart (DESIGN.md §8): the newest good snapshot with the journal tail replayed on top of
it, then, once the exchange is connected, every intent that never got an answer looked up by its client id
(never resent) and a reconcile with the exchange (safe policy).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import msgspec

from casino_tui.clock import Clock
from casino_tui.control import ReconcileReport
from casino_tui.engine import retries
from casino_tui.engine.brackets.machine import Bracket, Leg, bracket_id
from casino_tui.engine.clientids import parse_client_id
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.journal import Journal, JournalEntry
from casino_tui.engine.reconcile import reconcile, resolve_unacked
from casino_tui.engine.state import PersistedState
from casino_tui.model import JournalKind
from casino_tui.port import Exchange
from casino_tui.storage import SnapshotStore

log = logging.getLogger("casino.runtime")


class Restored(msgspec.Struct, kw_only=True):
    """What recovery hands to the components before they start."""

    paused: bool = False
    next_bracket_seq: int = 1
    brackets: list[Bracket] = msgspec.field(default_factory=list)
    weights: dict[str, Any] = msgspec.field(default_factory=dict)
    breakers: dict[str, Any] = msgspec.field(default_factory=dict)
    journal_seq: int = 0  # the snapshot reflects the journal up to here; intents after it may be unanswered

    @property
    def active(self) -> list[Bracket]:
        return [b for b in self.brackets if b.is_active]


def restore(store: SnapshotStore, journal: Journal) -> Restored:
    """Load the newest good snapshot and replay the journal tail on top of it.

    Raises SnapshotError or JournalError when either cannot be read (the operator's to fix).
    """
    state, warnings = store.load(PersistedState)
    for warning in warnings:
        log.warning("%s", warning)
    restored = Restored()
    by_id: dict[str, Any] = {}
    if state is not None:
        by_id = {b["id"]: b for b in state.brackets if isinstance(b, dict) and "id" in b}
        restored = Restored(
            paused=state.paused,
            next_bracket_seq=state.next_bracket_seq,
            weights=state.weights,
            breakers=state.breakers,
            journal_seq=state.journal_seq,
        )
    tail = journal.read(restored.journal_seq)
    for entry in tail:
        _replay(entry, restored, by_id)
    for raw in by_id.values():
        try:
            restored.brackets.append(msgspec.convert(raw, Bracket))
        except msgspec.ValidationError as exc:
            log.error("unreadable bracket record skipped: %s", exc)
    restored.brackets.sort(key=lambda b: b.seq)
    if state is not None or tail:
        log.warning(
            "recovering: snapshot %s, %d journal events replayed, %d active brackets, %s",
            "loaded" if state is not None else "absent",
            len(tail),
            len(restored.active),
            "PAUSED" if restored.paused else "not paused",
        )
    return restored


def _replay(entry: JournalEntry, restored: Restored, by_id: dict[str, Any]) -> None:
    """Apply one journal event newer than the snapshot: a bracket record, a pause change or an order intent."""
    if entry.kind is JournalKind.BRACKET and isinstance(entry.payload, dict):
        by_id[entry.ref] = entry.payload
    elif entry.kind is JournalKind.PAUSE and isinstance(entry.payload, dict):
        restored.paused = bool(entry.payload.get("paused"))
    elif entry.kind is JournalKind.INTENT and (cid := parse_client_id(entry.ref)) is not None:
        # An intent carries its bracket's sequence number: never reuse it, even if nothing else survived.
        restored.next_bracket_seq = max(restored.next_bracket_seq, cid.seq + 1)
        raw = by_id.get(bracket_id(cid.seq))
        if isinstance(raw, dict):
            by_id[bracket_id(cid.seq)] = _with_leg_intent(raw, entry.ref)


# A leg of a bracket → the bracket fields naming it (close ids carry no acknowledgement flag).
_LEG_FIELDS = {
    Leg.SL: ("sl_client_id", "sl_generation", "sl_acked"),
    Leg.TP: ("tp_client_id", "tp_generation", "tp_acked"),
    Leg.CLOSE: ("close_client_id", "close_generation", ""),
}


def _with_leg_intent(raw: dict[str, Any], cid: str) -> dict[str, Any]:
    """The bracket record with the leg a journaled intent sent under `cid` (the record may predate the send).

    Without it a restart would not know the leg: it would cancel the leg as an orphan and send its
    replacement under the same client id.
    """
    parsed = parse_client_id(cid)
    fields = _LEG_FIELDS.get(parsed.leg) if parsed is not None else None
    if parsed is None or fields is None:
        return raw
    id_field, generation_field, acked_field = fields
    if raw.get(id_field) == cid:
        return raw
    known = int(raw.get(generation_field) or 0)
    generation = known + (parsed.generation - known) % 10
    out = {**raw, id_field: cid}
    if acked_field:
        out[generation_field], out[acked_field] = generation, False
    else:
        out[generation_field] = generation + 1  # a close id is taken, then the counter moves on
    return out


async def recover_with_exchange(
    exchange: Exchange,
    croupier: Croupier,
    clock: Clock,
    journal: Journal | None,
    *,
    after_seq: int,
    stopping: asyncio.Event,
) -> bool:
    """`reconcile_at_start`, waiting out an open breaker that refuses it; False (said in the log) when it
    failed and the local state stands. Raises StopWhileWaiting if a stop comes while it waits."""

    def attempt() -> Awaitable[ReconcileReport]:
        return reconcile_at_start(exchange, croupier, clock, journal, after_seq=after_seq)

    try:
        await retries.past_open_breakers(attempt, exchange.health, stopping, what="startup reconcile")
    except retries.StopWhileWaiting:
        raise
    except Exception:
        log.exception("startup reconcile failed; continuing with local state")
        return False
    return True


async def reconcile_at_start(
    exchange: Exchange, croupier: Croupier, clock: Clock, journal: Journal | None, *, after_seq: int
) -> ReconcileReport:
    """Resolve the intents after `after_seq` that never got an answer (by lookup, never by resending), then
    reconcile (safe policy). Raises ExchangeError when the exchange cannot be read."""
    if journal is not None:
        await resolve_unacked(exchange, journal, croupier, after_seq=after_seq)
    report = await reconcile(exchange, croupier, clock, apply=True, journal=journal)
    if report.items:
        log.warning("startup reconcile: %d differences handled", len(report.items))
        for item in report.items:
            log.warning(
                "reconcile %s %s: %s -> %s",
                item.kind,
                item.symbol,
                item.action,
                item.detail or "ok",
                extra={"symbol": item.symbol},
            )
    else:
        log.info("startup reconcile: local state matches the exchange")
    return report
