"""Clocks: every timestamp in the engine comes from one of these, so sim, replay and tests are deterministic."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Milliseconds since the epoch, how fast that time runs against the wall, and how to name it to a person."""

    speed: float
    is_simulated: bool

    @property
    def label(self) -> str:
        """What the header prints next to the time: `UTC` for the wall, `SIM 30×` for a simulated clock."""
        ...

    def now_ms(self) -> int: ...


class WallClock:
    """Real time."""

    speed = 1.0
    is_simulated = False
    label = "UTC"

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SimClock:
    """Simulated time running `speed` times faster than the wall, from `start_ms`."""

    is_simulated = True

    def __init__(self, start_ms: int, speed: float = 1.0) -> None:
        self.speed = speed
        self._start_ms = start_ms
        self._t0 = time.monotonic()

    @property
    def label(self) -> str:
        return f"SIM {self.speed:g}×"

    def now_ms(self) -> int:
        return self._start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)

    def resume_at(self, now_ms: int) -> None:
        """Read `now_ms` from here on, at the same speed (a restored sim picks up its own time)."""
        self._start_ms = now_ms
        self._t0 = time.monotonic()


class ManualClock:
    """Time that moves only when told to: tests, snapshots, and replay at CPU speed."""

    speed = 1.0
    is_simulated = True
    label = "SIM"  # it moves when told to: no speed to state

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms

    def set(self, now_ms: int) -> None:
        self._now = max(self._now, now_ms)


class ReplayClock(ManualClock):
    """The data's time in a replay: the replay moves it along the timestamps it delivers.

    `pace` is the requested multiple of real time (None: as fast as the CPU allows); `speed` is the one
    measured so far, so rates per wall second stay right either way. `progress` (0..1) is shown in the label.
    """

    def __init__(self, start_ms: int, pace: float | None = None) -> None:
        super().__init__(start_ms)
        self.pace = pace
        self.speed = pace or 1.0
        self.progress = 0.0

    @property
    def label(self) -> str:  # type: ignore[override]
        pace = "max" if self.pace is None else f"{self.pace:g}×"
        return f"REPLAY {pace} {self.progress * 100:.0f}%"
