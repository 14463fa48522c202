"""OrderExecutor: the only code that submits or cancels orders on the exchange.

It applies the one rule that matters most (never resend after an unknown outcome: look the order up by its
client id instead), repeats definite failures with backoff and jitter under the rules of `retries` (the one
retry layer: an order is sent at most `MAX_SENDS_PER_ORDER` times), writes the intent to the journal before
the send and the acknowledgement after it, and times every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from casino_tui.clock import Clock
from casino_tui.crashpoints import crash_point
from casino_tui.engine.retries import (
    LOOKUP_ATTEMPTS,
    MAX_SENDS_PER_ORDER,
    READ_ATTEMPTS,
    backoff,
    retrying,
    run,
)
from casino_tui.model import OrderRequest, OrderUpdate
from casino_tui.port import (
    Exchange,
    ExchangeError,
    OrderNotFoundError,
    RejectedError,
    UnknownOutcomeError,
)

log = logging.getLogger("casino.executor")

T = TypeVar("T")


class OrderJournal(Protocol):
    """What the executor needs from the journal; either method may be a coroutine function."""

    def record_intent(self, request: OrderRequest) -> Any: ...

    def record_ack(self, update: OrderUpdate) -> Any: ...


class UnresolvedOrderError(UnknownOutcomeError):
    """An unknown outcome that neither the order lookups nor the user stream could settle.

    `answered` counts lookups the exchange answered with "no such order": when every lookup was answered
    that way the order was most likely never placed, but a late fill must still be expected.
    """

    def __init__(self, request: OrderRequest, answered: int, attempts: int) -> None:
        super().__init__(
            f"{request.client_id}: outcome unknown after {attempts} lookups ({answered} answered 'not found')"
        )
        self.request = request
        self.answered = answered
        self.attempts = attempts


class IntentNotRecordedError(Exception):
    """The journal could not record the intent, so the order was not sent (write-ahead rule)."""


# What a caller catches to mean "this order did not go through as asked".
SEND_FAILURES: tuple[type[Exception], ...] = (ExchangeError, IntentNotRecordedError)


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


class OrderExecutor:
    """Submits and cancels orders, and runs the engine's reads, under the rules of `retries` (DESIGN.md §8)."""

    def __init__(
        self,
        exchange: Exchange,
        clock: Clock,
        journal: OrderJournal | None = None,
        *,
        max_sends: int = MAX_SENDS_PER_ORDER,
        read_attempts: int = READ_ATTEMPTS,
        lookup_attempts: int = LOOKUP_ATTEMPTS,
        backoff_s: float = 0.2,
        max_backoff_s: float = 3.0,
        max_rate_limit_wait_s: float = 5.0,
        seed: int = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.exchange = exchange
        self.clock = clock
        self.journal = journal
        self.max_sends = max_sends
        self.read_attempts = read_attempts
        self.lookup_attempts = lookup_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_rate_limit_wait_s = max_rate_limit_wait_s
        self.sleep = sleep
        self._rng = random.Random(seed)
        # Client ids whose outcome is being looked up; the user stream can settle them first.
        self._awaiting: dict[str, asyncio.Future[OrderUpdate]] = {}
        self.durations: deque[float] = deque(maxlen=512)
        # Called with ("place" | "cancel", seconds) once each request has its answer (metrics observe it).
        self.on_duration: Callable[[str, float], None] | None = None
        self.sent = 0
        self.retries = 0
        self.unknown_outcomes = 0
        self.rejected = 0
        self.errors = 0

    # -- public API -------------------------------------------------------------------------------------

    async def place(self, request: OrderRequest) -> OrderUpdate:
        """Send `request`; return its acknowledgement, or the looked-up state after an unknown outcome.

        Raises RejectedError, BreakerOpenError, RetriableError (sends exhausted) or UnresolvedOrderError.
        """
        # Write the intent before the send: a crash between the two must not lose the order.
        if self.journal is not None:
            try:
                await _maybe_await(self.journal.record_intent(request))
            except Exception as exc:
                self.errors += 1
                log.error(
                    "%s not sent: journal failed: %s",
                    request.client_id,
                    exc,
                    extra={"symbol": request.symbol},
                )
                raise IntentNotRecordedError(f"{request.client_id}: intent not journaled: {exc}") from exc
            crash_point("after_intent")
        started = time.perf_counter()
        try:
            # A new order is not repeatable: an unknown outcome ends the sends and starts the lookups.
            update = await run(
                self._retrying(self.max_sends, repeatable=False), lambda: self.exchange.place_order(request)
            )
        except UnknownOutcomeError as exc:
            self.unknown_outcomes += 1
            log.warning(
                "%s: unknown outcome (%s); looking it up",
                request.client_id,
                exc,
                extra={"symbol": request.symbol},
            )
            update = await self._resolve(request)
        except RejectedError as exc:
            self.rejected += 1
            log.warning(
                "%s rejected: %s (code %s)",
                request.client_id,
                exc,
                exc.code,
                extra={"symbol": request.symbol},
            )
            raise
        except ExchangeError:
            self.errors += 1
            raise
        finally:
            self._record_duration("place", time.perf_counter() - started)
        self.sent += 1
        crash_point("after_send")
        if self.journal is not None:
            try:
                await _maybe_await(self.journal.record_ack(update))
            except Exception:
                # The order is on the exchange: losing the ack record must not lose the order's handling.
                self.errors += 1
                log.exception("%s: journal failed to record the ack", request.client_id)
        return update

    async def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        """Cancel an order; None if the exchange does not know it (-2011: already filled, cancelled or gone).

        A cancel is repeatable, but after an unknown outcome the order is looked up first: the cancel may
        have done its job, or the order may have filled meanwhile, and the caller must hear which.
        """
        started = time.perf_counter()
        try:
            async for attempt in self._retrying(self.max_sends, repeatable=True):
                with attempt:
                    try:
                        return await self.exchange.cancel_order(symbol, client_id, conditional)
                    except OrderNotFoundError:
                        return None
                    except UnknownOutcomeError:
                        self.unknown_outcomes += 1
                        found = await self._lookup_once(symbol, client_id, conditional)
                        if found is None or found.status.is_final:
                            return found
                        raise
            raise AssertionError("unreachable: the last failure is re-raised")
        except RejectedError as exc:
            self.rejected += 1
            log.warning("cancel %s rejected: %s", client_id, exc, extra={"symbol": symbol})
            raise
        except ExchangeError:
            self.errors += 1
            raise
        finally:
            self._record_duration("cancel", time.perf_counter() - started)

    async def query(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run a read-only request (open orders, positions ...); reads are safe to repeat, unknown outcome or not."""
        return await run(self._retrying(self.read_attempts, repeatable=True), request)

    def observe(self, update: OrderUpdate) -> None:
        """Feed a user-stream order update; it settles a pending unknown outcome for the same client id."""
        future = self._awaiting.get(update.client_id)
        if future is not None and not future.done():
            future.set_result(update)

    def backoff_delay(self, attempt: int) -> float:
        """Delay before retry `attempt` (0-based): base·2^n capped, plus jitter U(0, base)."""
        return min(self.max_backoff_s, self.backoff_s * 2.0**attempt) + self._rng.uniform(0, self.backoff_s)

    # -- internals --------------------------------------------------------------------------------------

    def _retrying(self, attempts: int, *, repeatable: bool) -> AsyncRetrying:
        return retrying(
            attempts=attempts,
            repeatable=repeatable,
            max_rate_limit_wait_s=self.max_rate_limit_wait_s,
            wait=backoff(self.backoff_delay),
            sleep=self.sleep,
            before_sleep=self._count_retry,
        )

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info("retrying after %s (attempt %d)", exc, state.attempt_number)

    async def _lookup_once(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        try:
            return await self.exchange.get_order(symbol, client_id, conditional)
        except ExchangeError as exc:
            log.info("lookup of %s failed: %s", client_id, exc, extra={"symbol": symbol})
            return None

    async def _resolve(self, request: OrderRequest) -> OrderUpdate:
        """Settle an unknown outcome by lookups with backoff, or by the user stream, whichever answers first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[OrderUpdate] = loop.create_future()
        self._awaiting[request.client_id] = future
        conditional = request.type.is_conditional
        answered = 0

        async def look_up() -> OrderUpdate | None:
            nonlocal answered
            if future.done():
                return future.result()
            try:
                found = await self.exchange.get_order(request.symbol, request.client_id, conditional)
            except ExchangeError as exc:
                log.info("lookup of %s failed: %s", request.client_id, exc, extra={"symbol": request.symbol})
                return None
            answered += 1
            return found

        async def wait_on_stream(seconds: float) -> None:
            # Between lookups, wait on the stream for the backoff delay instead of sleeping blind.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), seconds)

        lookups = AsyncRetrying(
            stop=stop_after_attempt(self.lookup_attempts),
            wait=backoff(self.backoff_delay),
            retry=retry_if_result(lambda found: found is None),
            sleep=wait_on_stream,
            retry_error_callback=lambda _state: None,
        )
        try:
            found: OrderUpdate | None = await lookups(look_up)
            if future.done():
                return future.result()
            if found is not None:
                log.info(
                    "%s resolved by lookup: %s",
                    request.client_id,
                    found.status,
                    extra={"symbol": request.symbol},
                )
                return found
            self.errors += 1
            raise UnresolvedOrderError(request, answered, self.lookup_attempts)
        finally:
            self._awaiting.pop(request.client_id, None)
            if not future.done():
                future.cancel()

    def _record_duration(self, request: str, seconds: float) -> None:
        self.durations.append(seconds)
        if self.on_duration is not None:
            self.on_duration(request, seconds)
