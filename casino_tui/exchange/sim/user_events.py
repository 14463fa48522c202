"""User events of a matching engine, delivered to the engine's sink in order and never inside the call that
made them (as an exchange's user stream would): the sim and the replay adapter share this queue."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from casino_tui.exchange.sim.matching import MatchingEvent
from casino_tui.model import AccountUpdate
from casino_tui.port import UserSink

log = logging.getLogger("casino.sim")


class UserEventQueue:
    """Queued order and account updates; flushed on the loop's next turn, or at once with no running loop."""

    def __init__(self) -> None:
        self.sink: UserSink | None = None
        self._pending: deque[MatchingEvent] = deque()
        self._flush_scheduled = False

    def __bool__(self) -> bool:
        return bool(self._pending)

    def push(self, event: MatchingEvent) -> None:
        """A matching-engine listener: queue `event` and make sure a flush follows."""
        self._pending.append(event)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Deliver every queued event now, in order; a failing sink is logged and the rest still delivered."""
        self._flush_scheduled = False
        sink = self.sink
        while self._pending:
            event = self._pending.popleft()
            if sink is None:
                continue
            try:
                if isinstance(event, AccountUpdate):
                    sink.on_account_update(event)
                else:
                    sink.on_order_update(event)
            except Exception:
                log.exception("user sink failed on %s", type(event).__name__)
