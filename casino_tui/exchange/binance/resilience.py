"""Circuit breakers, the failures that count against them, and the backoff between reconnects.

A breaker guards one endpoint group: after `failure_threshold` consecutive failures it opens and refuses
calls; after `open_seconds` (or sooner, when a reconnected socket shows the exchange is back) it lets up to
`trial_calls` requests through at a time (half-open) and closes once every request it let through has
succeeded. Only failures that say the exchange is unwell count: a rejected order is the exchange working.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from casino_tui.clock import Clock
from casino_tui.port import (
    AuthError,
    BreakerOpenError,
    BreakerState,
    BreakerStatus,
    ExchangeError,
    RateLimitedError,
    RejectedError,
    RetriableError,
    UnknownOutcomeError,
)


class CircuitBreaker:
    """CLOSED → (N consecutive failures) → OPEN → (cooldown) → HALF_OPEN → (all trials good) → CLOSED.

    Half-open closes on the first success when that was the only trial in flight: an endpoint group with
    sparse traffic (one listenKey request per reconnect) must not stay half-open until the next burst.
    `on_change(breaker, status)` hears every trip and every close (a cooldown ending is not an event).
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        failure_threshold: int = 5,
        open_seconds: float = 60.0,
        trial_calls: int = 3,
    ) -> None:
        self.name = name
        self._clock = clock
        self._threshold = failure_threshold
        self._open_ms = int(open_seconds * 1000)
        self._trial_calls = trial_calls
        self._status = BreakerStatus.CLOSED
        self._failures = 0
        self._opened_at_ms = 0
        self._trials_started = 0
        self._trials_passed = 0
        # A forced cooldown (an IP ban, a restored breaker) is served in full, never cut short.
        self._forced = False
        self.reason = ""
        self.trips = 0
        self.on_change: Callable[[CircuitBreaker, BreakerStatus], None] | None = None

    @property
    def status(self) -> BreakerStatus:
        """Current state; an open breaker whose cooldown has run out reads as HALF_OPEN."""
        if self._status is BreakerStatus.OPEN and self._clock.now_ms() - self._opened_at_ms >= self._open_ms:
            self._status = BreakerStatus.HALF_OPEN
            self._trials_started = 0
            self._trials_passed = 0
        return self._status

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def is_open(self) -> bool:
        return self.status is BreakerStatus.OPEN

    @property
    def is_forced(self) -> bool:
        """Opened by `force_open` (a ban): its cooldown is not cut short by `end_cooldown`."""
        return self._forced and self._status is not BreakerStatus.CLOSED

    def cooldown_s(self) -> float:
        """Seconds until an open breaker goes half-open (0 otherwise)."""
        if self.status is not BreakerStatus.OPEN:
            return 0.0
        return max(0.0, (self._opened_at_ms + self._open_ms - self._clock.now_ms()) / 1000)

    def end_cooldown(self) -> bool:
        """Go half-open now: the exchange answered elsewhere (a socket reconnected), so trial calls may test
        this group at once. A forced cooldown is kept. True if the breaker was open and now is half-open."""
        status = self.status
        if status is not BreakerStatus.OPEN or self._forced:
            return False
        self._opened_at_ms = self._clock.now_ms() - self._open_ms
        return self.status is BreakerStatus.HALF_OPEN  # re-read: the cooldown has just run out

    def allow(self) -> bool:
        """Whether a call may go out now; in HALF_OPEN at most `trial_calls` trials are in flight at once."""
        status = self.status
        if status is BreakerStatus.CLOSED:
            return True
        if status is BreakerStatus.OPEN:
            return False
        if self._trials_started - self._trials_passed >= self._trial_calls:
            return False
        self._trials_started += 1
        return True

    def check(self) -> None:
        """`allow()` or raise BreakerOpenError."""
        if not self.allow():
            raise BreakerOpenError(f"{self.name} breaker is {self.status.value}: {self.reason}")

    def release(self) -> None:
        """Give back a trial slot taken by `allow()` for a call that was never sent (e.g. refused locally)."""
        if self._status is BreakerStatus.HALF_OPEN and self._trials_started > self._trials_passed:
            self._trials_started -= 1

    def record_success(self) -> None:
        status = self.status
        if status is BreakerStatus.HALF_OPEN:
            self._trials_passed += 1
            if self._trials_passed >= self._trials_started:
                self._close()  # every trial let through has come back good
        elif status is BreakerStatus.CLOSED:
            self._failures = 0

    def record_failure(self, reason: str) -> None:
        status = self.status
        self._failures += 1
        self.reason = reason
        if status is BreakerStatus.HALF_OPEN or (
            status is BreakerStatus.CLOSED and self._failures >= self._threshold
        ):
            self._trip(forced=False, opened_at_ms=self._clock.now_ms())

    def force_open(self, reason: str, seconds: float | None = None) -> None:
        """Open now (e.g. an IP ban); `seconds` overrides the cooldown for this trip only."""
        self.reason = reason
        opened_at = self._clock.now_ms()
        if seconds is not None:
            opened_at += int(seconds * 1000) - self._open_ms
        self._trip(forced=True, opened_at_ms=opened_at)

    def snapshot(self) -> BreakerState:
        status = self.status
        return BreakerState(
            name=self.name,
            state=status,
            failures=self._failures,
            reason=self.reason if status is not BreakerStatus.CLOSED else "",
            cooldown_s=round(self.cooldown_s(), 1),
        )

    def _trip(self, forced: bool, opened_at_ms: int) -> None:
        self._status = BreakerStatus.OPEN
        self._opened_at_ms = opened_at_ms
        self._forced = forced
        self.trips += 1
        self._tell(BreakerStatus.OPEN)

    def _close(self) -> None:
        self._status = BreakerStatus.CLOSED
        self._failures = 0
        self._forced = False
        self.reason = ""
        self._tell(BreakerStatus.CLOSED)

    def _tell(self, status: BreakerStatus) -> None:
        if self.on_change is not None:
            self.on_change(self, status)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, {self.status.value}, failures={self._failures})"


def counts_against_breaker(exc: BaseException) -> bool:
    """True for failures that say the service is unwell (5xx, timeouts, transport); not for refusals."""
    if isinstance(exc, RateLimitedError):
        return False  # the limiter owns 429/418; a ban also forces the breaker open explicitly
    if isinstance(exc, RejectedError | AuthError | BreakerOpenError):
        return False
    return isinstance(exc, RetriableError | UnknownOutcomeError)


def describe(exc: BaseException) -> str:
    """A short reason for the Breakers pane: class name and code, never the request."""
    if isinstance(exc, ExchangeError):
        code = f" {exc.code}" if exc.code else ""
        return f"{type(exc).__name__}{code}"
    return type(exc).__name__


class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(base·2ⁿ·(1-jitter), base·2ⁿ), capped.

    The streams' reconnect delay; a failed request is repeated (or not) by engine/retries.py alone.
    """

    def __init__(
        self,
        attempts: int = 4,
        base_s: float = 0.2,
        factor: float = 2.0,
        max_s: float = 5.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.attempts = attempts
        self.base_s = base_s
        self.factor = factor
        self.max_s = max_s
        self.jitter = jitter
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        ceiling = min(self.max_s, self.base_s * self.factor**attempt)
        return ceiling * (1.0 - self.jitter * self._rng.random())
