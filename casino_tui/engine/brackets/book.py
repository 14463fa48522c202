"""BracketBook: the brackets an OCOManager runs and what its workers share about them.

Active brackets by symbol, a bounded history of closed ones, which bracket and leg each client order id
belongs to, the per-symbol locks that serialise entries, the background work in flight, and the session's
counters. The book changes local state only; whatever talks to the exchange lives in the workers. Every
state change goes through `move`, so the counters, the history and the journal hook follow the bracket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any

from casino_tui.clock import Clock
from casino_tui.engine.brackets.machine import Bracket, Leg, bracket_id, client_id
from casino_tui.model import BracketState, CloseReason, Side

log = logging.getLogger("casino.oco")

S = BracketState

TransitionHook = Callable[[Bracket, BracketState, BracketState], Any]


class BracketBook:
    """Owns the brackets, their client-id routes, symbol locks, background tasks and counters."""

    def __init__(
        self,
        clock: Clock,
        *,
        next_seq: int = 1,
        max_closed: int = 200,
        on_transition: TransitionHook | None = None,
    ) -> None:
        self._clock = clock
        self.next_seq = next_seq  # persisted: client ids never repeat across restarts
        self._max_closed = max_closed
        self._on_transition = on_transition
        self._active: dict[str, Bracket] = {}
        self._closed: deque[Bracket] = deque()
        self._by_client: dict[str, tuple[Bracket, Leg]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._is_sweeping = False
        self._opened = 0
        self._closed_count = 0
        self._errors = 0

    # -- brackets ---------------------------------------------------------------------------------------

    @property
    def active(self) -> tuple[Bracket, ...]:
        return tuple(self._active.values())

    @property
    def closed(self) -> tuple[Bracket, ...]:
        """The recent closed brackets, oldest first (at most `max_closed`)."""
        return tuple(self._closed)

    @property
    def open_count(self) -> int:
        return len(self._active)

    def bracket_for(self, symbol: str) -> Bracket | None:
        return self._active.get(symbol)

    def open(self, symbol: str, side: Side, qty: float) -> Bracket:
        """A new PENDING_ENTRY bracket (next seq) holding `symbol`, announced to the transition hook and
        routed by its entry's client id, both before the entry is sent."""
        bracket = self._new(symbol, side, qty)
        if self._on_transition is not None:
            # Journal the new bracket before its entry intent, so a restart knows what the intent was for.
            self._on_transition(bracket, bracket.state, bracket.state)
        # Registered before the send: a fill event may arrive before the REST answer does.
        self.register(bracket.entry_client_id, bracket, Leg.ENTRY)
        return bracket

    def adopt(self, symbol: str, side: Side, qty: float, entry_price: float, note: str) -> Bracket:
        """Take over a position found on the exchange: a new bracket (next seq), OPEN_UNPROTECTED, no legs yet."""
        if symbol in self._active:
            raise ValueError(f"{symbol} already has an active bracket ({self._active[symbol].id})")
        bracket = self._new(symbol, side, qty)
        bracket.entry_price = entry_price
        bracket.opened_ms = bracket.created_ms
        bracket.note = note
        self.move(bracket, S.OPEN_UNPROTECTED)
        return bracket

    def restore(self, brackets: Iterable[Bracket]) -> None:
        """Take back the brackets of a previous run (state snapshot); closed ones only join the history."""
        for bracket in brackets:
            self.next_seq = max(self.next_seq, bracket.seq + 1)
            for leg in Leg:
                cid = bracket.leg_client_id(leg)
                if cid:
                    self._by_client[cid] = (bracket, leg)
            if bracket.is_active:
                self._active[bracket.symbol] = bracket
            else:
                self._closed.append(bracket)

    def forget_legs(self, bracket: Bracket, legs: Iterable[Leg]) -> None:
        """Treat `legs` as gone from the exchange: updates about their old ids stop moving the bracket and
        the next placement uses a new client-id generation."""
        for leg in legs:
            if leg is Leg.TP:
                if bracket.tp_client_id:
                    bracket.tp_generation += 1
                bracket.tp_client_id, bracket.tp_acked = "", False
            elif leg is Leg.SL:
                if bracket.sl_client_id:
                    bracket.sl_generation += 1
                bracket.sl_client_id, bracket.sl_acked = "", False
        if bracket.state is S.PROTECTED and not (bracket.tp_acked and bracket.sl_acked):
            self.move(bracket, S.OPEN_UNPROTECTED)

    def move(self, bracket: Bracket, new: BracketState, reason: CloseReason | None = None) -> None:
        """Move `bracket` along a legal edge (IllegalTransition otherwise); CLOSED retires it from its symbol."""
        old = bracket.state
        bracket.transition(new, reason, self._clock.now_ms())
        if old is S.PENDING_ENTRY and new is S.OPEN_UNPROTECTED:
            self._opened += 1  # an entry filled, or a position was adopted
        if new is S.CLOSED:
            self._retire(bracket)
        if self._on_transition is not None:
            self._on_transition(bracket, old, new)

    def _new(self, symbol: str, side: Side, qty: float) -> Bracket:
        seq = self.next_seq
        self.next_seq += 1
        bracket = Bracket(
            id=bracket_id(seq),
            seq=seq,
            symbol=symbol,
            side=side,
            qty=qty,
            # An adopted position's entry was never sent; its id only keeps the naming scheme.
            entry_client_id=client_id(seq, Leg.ENTRY, 0, symbol),
            created_ms=self._clock.now_ms(),
        )
        self._active[symbol] = bracket
        return bracket

    def _retire(self, bracket: Bracket) -> None:
        if self._active.get(bracket.symbol) is bracket:
            del self._active[bracket.symbol]
        if bracket.has_entry_fill:
            self._closed_count += 1
        self._closed.append(bracket)
        while len(self._closed) > self._max_closed:
            old = self._closed.popleft()
            for cid in [k for k, (b, _) in self._by_client.items() if b is old]:
                del self._by_client[cid]

    # -- client-id routes -------------------------------------------------------------------------------

    def register(self, client_id: str, bracket: Bracket, leg: Leg) -> None:
        """Route future updates about `client_id` to `bracket` (call before the order is sent)."""
        self._by_client[client_id] = (bracket, leg)

    def route(self, client_id: str) -> tuple[Bracket, Leg] | None:
        """The bracket and leg an order belongs to; None for an order no bracket sent."""
        return self._by_client.get(client_id)

    # -- locks, sweeps and work in flight ---------------------------------------------------------------

    def symbol_lock(self, symbol: str) -> asyncio.Lock:
        """The lock that serialises work on `symbol`; an entry holds it while it is in flight."""
        return self._locks.setdefault(symbol, asyncio.Lock())

    async def wait_entries(self) -> None:
        """Wait until every entry in flight has its answer (each symbol lock is free once)."""
        for lock in list(self._locks.values()):
            async with lock:
                pass

    @property
    def is_sweeping(self) -> bool:
        """A sweep is running: no new entry may open behind its back, and dropped legs wait for its end."""
        return self._is_sweeping

    @contextlib.contextmanager
    def sweeping(self) -> Iterator[None]:
        """Mark a sweep as running for the duration of the block."""
        self._is_sweeping = True
        try:
            yield
        finally:
            self._is_sweeping = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background; a failure is logged and counted as an error."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    async def wait_idle(self) -> None:
        """Wait until no background work (leg placement, sibling cancels, closes) is left."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._errors += 1
            log.error("%s failed: %r", task.get_name(), task.exception())

    # -- counters ---------------------------------------------------------------------------------------

    @property
    def brackets_opened(self) -> int:
        """Brackets that came to hold a position (an entry filled, or a position was adopted)."""
        return self._opened

    @property
    def brackets_closed(self) -> int:
        """Brackets that held a position and are CLOSED."""
        return self._closed_count

    @property
    def errors(self) -> int:
        return self._errors

    def count_error(self) -> None:
        """Count a failure the operator must hear about (the caller logs what it was)."""
        self._errors += 1
