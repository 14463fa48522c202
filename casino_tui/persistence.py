"""The state directory of one run: the journal, the engine's state snapshots and, on the sim, the paper account.

Opened and recovered at start (`recover`), written every few seconds and at shutdown; operator state changes
are journaled through `record`. Without a state directory nothing outlives the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from casino_tui.clock import Clock
from casino_tui.engine.journal import Journal, open_journal
from casino_tui.engine.recovery import Restored, restore
from casino_tui.engine.state import PersistedState
from casino_tui.engine.trades import TradeLedger
from casino_tui.exchange.sim.paper import PaperStore
from casino_tui.model import JournalKind
from casino_tui.paths import StatePaths
from casino_tui.port import Exchange
from casino_tui.storage import SnapshotError, SnapshotStore

log = logging.getLogger("casino.runtime")


class Persistence:
    """Owns the journal, the snapshot store and the paper store of one run (all None without a directory)."""

    def __init__(
        self, paths: StatePaths | None, exchange: Exchange, clock: Clock, trades: TradeLedger | None = None
    ) -> None:
        self.paths = paths
        self._trades = trades
        self._exchange = exchange
        self._clock = clock
        self.journal: Journal | None = None
        self._store: SnapshotStore | None = None
        self._paper: PaperStore | None = None
        self._saving: asyncio.Task[None] | None = None
        self.errors = 0

    def recover(self) -> Restored:
        """Open the journal and the snapshots, recover the engine's state (and the closed trades) from them,
        then put the saved paper account back into the sim (before anything reads it: its market, account
        and clock carry on).

        Raises JournalError, SnapshotError or PaperAccountError: problems the operator must fix.
        """
        if self.paths is None:
            return Restored()
        self.paths.ensure()
        self.journal = open_journal(self.paths.journal, self._clock.now_ms)
        self._store = SnapshotStore(self.paths.snapshots, clock_ms=self._clock.now_ms)
        restored = restore(self._store, self.journal)
        if self._trades is not None:  # the Trades screen shows the earlier runs' trades too
            found = self._trades.rebuild(self.journal.closed_brackets())
            if found:
                log.info("trades: %d closed trades read back from the journal", found)
        self.journal.record_session(self._clock)
        self._paper = PaperStore.for_exchange(self._exchange, self._clock, self.paths.root)
        if self._paper is not None:
            self._paper.restore()
        return restored

    # ---- the journal ------------------------------------------------------------------------------------

    def record(self, kind: JournalKind, payload: dict[str, Any]) -> None:
        """Journal an operator command (queued; a write failure is logged by the journal)."""
        if self.journal is not None:
            self.journal.append(kind, payload)

    def record_then_say(self, kind: JournalKind, payload: dict[str, Any], said: str) -> None:
        """Journal an operator state change and log `said` only once it is on disk: the line tells the
        operator that a restart (even after a kill) keeps the change."""
        if self.journal is None:
            log.warning("%s", said)
            return
        written = self.journal.append(kind, payload)

        def confirm() -> None:
            if not written.cancelled() and written.exception() is None:
                log.warning("%s", said)
            else:
                log.error("%s, but the journal write failed: a restart will not keep it", said)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            confirm()  # no loop to come back to: exception() waits for the write
            return
        written.add_done_callback(lambda _: loop.call_soon_threadsafe(confirm))

    # ---- saving -----------------------------------------------------------------------------------------

    def save(self, state: PersistedState) -> None:
        """Write `state` and the paper account now (shutdown); a failure is logged and counted."""
        if self._store is None:
            return
        try:
            self._store.save(state)
            if self._paper is not None:
                self._paper.save()
        except SnapshotError as exc:
            self.errors += 1
            log.error("%s", exc)

    def start_saving(self, interval_s: float, capture: Callable[[], PersistedState]) -> None:
        """Every `interval_s` from now on, `capture()` and the paper account to disk, written off the loop."""
        if self._store is not None and self._saving is None:
            self._saving = asyncio.create_task(
                self._save_every(self._store, interval_s, capture), name="saving"
            )

    async def stop_saving(self) -> None:
        if self._saving is not None:
            self._saving.cancel()
            await asyncio.gather(self._saving, return_exceptions=True)

    async def _save_every(
        self, store: SnapshotStore, interval_s: float, capture: Callable[[], PersistedState]
    ) -> None:
        while True:
            await asyncio.sleep(interval_s)
            state = capture()
            paper = self._paper.capture() if self._paper is not None else None  # the same instant as `state`
            try:
                await store.save_async(state)
                if paper is not None and self._paper is not None:
                    await self._paper.write_async(paper)
            except SnapshotError as exc:
                self.errors += 1
                log.error("%s", exc)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
