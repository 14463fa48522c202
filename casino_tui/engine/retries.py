"""The one retry layer: which failed requests are sent again, which are looked up, which end there.

The REST transport sends each request once; the only resend below this layer is Binance's -1021 (timestamp
outside recvWindow), refused before the order is read, which the transport resends once after a clock
resync. Everything the engine sends goes through `OrderExecutor` (start-up reads through `read`), which
repeats a request only where `verdict` says RETRY, with tenacity, and never more than `MAX_SENDS_PER_ORDER`
times for one client id. A request an open breaker refused is given up here; only start-up, which cannot go
on without its reads, waits the breaker's cooldown out (`past_open_breakers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from casino_tui.port import (
    BreakerOpenError,
    BreakerStatus,
    ExchangeHealth,
    RateLimitedError,
    RetriableError,
    UnknownOutcomeError,
)

log = logging.getLogger("casino.retries")

T = TypeVar("T")

# An order (entry, TP/SL, reduce-only close) reaches the exchange at most this often under one client id,
# whatever the failures; protective orders, which bypass the orders breaker, included.
MAX_SENDS_PER_ORDER = 3
# A read (positions, open orders, balance, rules, candles) is tried at most this often.
READ_ATTEMPTS = 4
# Lookups by client id that try to settle an order whose outcome is unknown.
LOOKUP_ATTEMPTS = 5


class Verdict(enum.Enum):
    """What may follow a failed request."""

    RETRY = "retry"  # a definite failure: nothing happened, sending it again is safe
    LOOK_UP = "look up"  # it may have taken effect: find the order by its client id, never resend
    GIVE_UP = "give up"  # refused, breaker open, banned or throttled for long: the caller decides


def verdict(exc: BaseException, *, repeatable: bool, max_rate_limit_wait_s: float) -> Verdict:
    """The rule for one failure; `repeatable` requests (reads, cancels) do no harm when they arrive twice."""
    if isinstance(exc, RateLimitedError):
        # A short 429 back-off is waited out; a ban or a long one is not this request's to sit through.
        short = not exc.banned and exc.retry_after_s <= max_rate_limit_wait_s
        return Verdict.RETRY if short else Verdict.GIVE_UP
    if isinstance(exc, UnknownOutcomeError):
        return Verdict.RETRY if repeatable else Verdict.LOOK_UP
    if isinstance(exc, RetriableError):
        return Verdict.RETRY
    # RejectedError, OrderNotFoundError, AuthError, BreakerOpenError and anything unforeseen.
    return Verdict.GIVE_UP


def backoff(delay: Callable[[int], float]) -> Callable[[RetryCallState], float]:
    """A tenacity wait of `delay(n)` seconds after failed try n (0-based), at least a 429's Retry-After."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        floor = exc.retry_after_s if isinstance(exc, RateLimitedError) else 0.0
        return max(delay(state.attempt_number - 1), floor)

    return wait


def retrying(
    *,
    attempts: int,
    repeatable: bool,
    max_rate_limit_wait_s: float,
    wait: Callable[[RetryCallState], float],
    sleep: Callable[[float], Awaitable[None]],
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """A tenacity controller that repeats only what `verdict` calls RETRY, `attempts` tries in all."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception(
            lambda exc: (
                verdict(exc, repeatable=repeatable, max_rate_limit_wait_s=max_rate_limit_wait_s)
                is Verdict.RETRY
            )
        ),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


async def run(controller: AsyncRetrying, call: Callable[[], Awaitable[T]]) -> T:
    """Await `call()` under `controller`; unlike tenacity's own call, a lambda returning a coroutine works."""
    async for attempt in controller:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity re-raises the last failure")


async def read(call: Callable[[], Awaitable[T]], *, attempts: int = READ_ATTEMPTS) -> T:
    """Run a read made before there is an executor (start-up rules, balance, candle history)."""
    controller = retrying(
        attempts=attempts,
        repeatable=True,
        max_rate_limit_wait_s=5.0,
        wait=backoff(lambda n: min(3.0, 0.2 * 2**n)),
        sleep=asyncio.sleep,
    )
    return await run(controller, call)


class StopWhileWaiting(Exception):
    """A stop was asked for while a request waited for a breaker's cooldown."""


async def past_open_breakers(
    call: Callable[[], Awaitable[T]],
    health: Callable[[], ExchangeHealth],
    stopping: asyncio.Event,
    *,
    what: str,
    poll_s: float = 0.25,
) -> T:
    """`call()`; while an open breaker refuses it, wait until the breakers open then have cooled down (it says
    so), then call again: the cooldown is served, never cut short. Raises StopWhileWaiting if `stopping` is set
    first."""
    while True:
        try:
            return await call()
        except BreakerOpenError as exc:
            opened = {b.name: b.cooldown_s for b in health().breakers if b.state is BreakerStatus.OPEN}
            left = max(opened.values(), default=0.0)
            log.warning("%s: %s; waiting %.0fs for its cooldown, then trying again", what, exc, left)
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), poll_s)
                if stopping.is_set():
                    raise StopWhileWaiting(what) from None
                if not any(b.name in opened and b.state is BreakerStatus.OPEN for b in health().breakers):
                    break
