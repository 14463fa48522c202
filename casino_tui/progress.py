"""Start-up progress as the operator reads it: the phase, and for history how many series have arrived."""

from __future__ import annotations

import enum
import logging

log = logging.getLogger("casino.runtime")


class StartupPhase(enum.StrEnum):
    LOADING_HISTORY = "loading history"
    WARMING_SENSORS = "warming sensors"
    CONNECTING = "connecting"
    RECOVERING = "recovering"
    DONE = ""


class StartupProgress:
    """The current start-up phase; each change is logged once, history every quarter, so headless says it too."""

    def __init__(self) -> None:
        self.phase = StartupPhase.DONE
        self.done = 0
        self.total = 0

    @property
    def text(self) -> str:
        """`loading history 12/48`, `warming sensors`, ...; "" once start-up is over."""
        if self.phase is StartupPhase.LOADING_HISTORY:
            return f"{self.phase.value} {self.done}/{self.total}"
        return self.phase.value

    def enter(self, phase: StartupPhase, total: int = 0) -> None:
        self.phase, self.done, self.total = phase, 0, total
        if phase is not StartupPhase.DONE:
            log.info("start-up: %s", self.text)

    def step(self) -> None:
        """One more history series loaded."""
        self.done += 1
        quarter = max(self.total // 4, 1)
        if self.done % quarter == 0 or self.done == self.total:
            log.info("start-up: %s", self.text)
