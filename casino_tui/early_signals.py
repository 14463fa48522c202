"""Signals from the first instruction: until the event loop takes over, a signal is remembered, never fatal.

The CLI installs `EarlySignals` before it parses anything. The headless runner and the console install
their own loop handlers, then ask what arrived meanwhile: a SIGTERM/SIGINT during start-up still ends the
run in order, with a report, instead of the default action killing the process with nothing written.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger("casino.signals")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
# Everything the headless runner handles: each of them would kill a process still starting up.
EARLY_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class EarlySignals:
    """Records signals (a handler may not log or touch the loop); restores the previous handlers on exit."""

    def __init__(self) -> None:
        self.stop_signal: signal.Signals | None = None
        self._ignored: set[signal.Signals] = set()
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> EarlySignals:
        for signum in EARLY_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._remember)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        received = signal.Signals(signum)
        if received in STOP_SIGNALS:
            self.stop_signal = self.stop_signal or received
        else:
            self._ignored.add(received)

    def hand_over(self) -> signal.Signals | None:
        """Called once the loop's handlers are in place: the stop signal that came first, if any."""
        for received in sorted(self._ignored):
            log.warning("%s arrived during start-up: ignored", received.name)
        self._ignored.clear()
        return self.stop_signal
