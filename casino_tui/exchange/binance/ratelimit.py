"""Weight-aware request limiter for Binance: IP weight per minute and account order counts, fed by headers.

Binance counts weight in fixed windows (the minute, and 10 s for orders) and reports the running totals in
`X-MBX-USED-WEIGHT-1M` / `X-MBX-ORDER-COUNT-10S` / `X-MBX-ORDER-COUNT-1M`. The limiter keeps its own
estimate (the highest header plus requests still in flight, or our own count if higher), never lets it
pass `1 - reserve` of a limit,
and keeps the top slice of that budget for order traffic so cancels and protective orders still go out
when market-data polling is heavy. 429 backs a group off; 418 stops it until the ban ends.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Awaitable, Callable

from casino_tui.port import RateLimitedError

MINUTE_MS = 60_000
TEN_S_MS = 10_000


class Priority(enum.IntEnum):
    """ORDER traffic (placing, cancelling, querying orders) may use the slice NORMAL traffic leaves free."""

    NORMAL = 0
    ORDER = 1


class _Window:
    """A fixed-window counter estimating what the server has counted in the current window.

    `sent` is our own weight this window, `reported` the highest header seen (it includes other clients on
    the IP); requests still in flight may not be in the header yet, so they are added on top of it.
    """

    __slots__ = ("length_ms", "limit", "index", "sent", "reported", "inflight")

    def __init__(self, length_ms: int, limit: int) -> None:
        self.length_ms = length_ms
        self.limit = limit
        self.index = -1
        self.sent = 0
        self.reported = 0
        self.inflight = 0

    @property
    def used(self) -> int:
        return max(self.sent, self.reported + self.inflight)

    def roll(self, now_ms: int) -> None:
        index = now_ms // self.length_ms
        if index != self.index:
            self.index = index
            # Requests still in flight may land in the new window: count them there too.
            self.sent = self.inflight
            self.reported = 0

    def ms_to_next(self, now_ms: int) -> int:
        return (now_ms // self.length_ms + 1) * self.length_ms - now_ms

    def add(self, amount: int) -> None:
        self.sent += amount
        self.inflight += amount

    def settle(self, amount: int, sent: bool) -> None:
        self.inflight = max(0, self.inflight - amount)
        if not sent:
            self.sent = max(0, self.sent - amount)

    def report(self, header: int | None) -> None:
        if header is not None:
            # max(): answers arrive out of order; a smaller, older figure says nothing new.
            self.reported = max(self.reported, header)


class _GroupBlock:
    __slots__ = ("until_ms", "banned", "reason")

    def __init__(self) -> None:
        self.until_ms = 0
        self.banned = False
        self.reason = ""


class RateLimiter:
    """Shared IP-weight and order-count budget with per-group 429/418 back-off.

    `try_acquire` is the pure decision (0 = go, >0 = seconds to wait); `acquire` waits for it. Every
    acquired request must be followed by exactly one `complete` (answered) or `abandon` (never sent).
    """

    def __init__(
        self,
        now_ms: Callable[[], int],
        weight_limit: int = 2400,
        order_limit_10s: int = 300,
        order_limit_1m: int = 1200,
        reserve: float = 0.20,
        order_share: float = 0.10,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._now_ms = now_ms
        self._sleep = sleep
        self._reserve = reserve
        self._order_share = order_share
        self._weight = _Window(MINUTE_MS, weight_limit)
        self._orders_10s = _Window(TEN_S_MS, order_limit_10s)
        self._orders_1m = _Window(MINUTE_MS, order_limit_1m)
        self._blocks: dict[str, _GroupBlock] = {}
        self._order_waiters = 0
        self._orders_idle: asyncio.Event | None = None
        self.rejections = 0

    # ---- budget figures -------------------------------------------------------------------------
    def weight_cap(self, priority: Priority) -> int:
        """Most weight a request of `priority` may bring the window to (80% of the limit for orders)."""
        share = 1.0 - self._reserve - (0.0 if priority is Priority.ORDER else self._order_share)
        return math.floor(self._weight.limit * share)

    def _order_cap(self, window: _Window) -> int:
        return math.floor(window.limit * (1.0 - self._reserve))

    @property
    def used_weight(self) -> int:
        self._roll()
        return self._weight.used

    @property
    def weight_limit(self) -> int:
        return self._weight.limit

    @property
    def order_count_10s(self) -> int:
        self._roll()
        return self._orders_10s.used

    @property
    def order_count_1m(self) -> int:
        self._roll()
        return self._orders_1m.used

    @property
    def order_limit_10s(self) -> int:
        return self._orders_10s.limit

    @property
    def order_limit_1m(self) -> int:
        return self._orders_1m.limit

    def set_limits(
        self, weight_1m: int | None = None, orders_10s: int | None = None, orders_1m: int | None = None
    ) -> None:
        """Adopt the limits exchangeInfo announces (`rateLimits`)."""
        if weight_1m:
            self._weight.limit = weight_1m
        if orders_10s:
            self._orders_10s.limit = orders_10s
        if orders_1m:
            self._orders_1m.limit = orders_1m

    def blocked_for_s(self, group: str) -> float:
        """Seconds left on a group's 429 back-off or 418 ban (0 when free)."""
        block = self._blocks.get(group)
        if block is None:
            return 0.0
        return max(0.0, (block.until_ms - self._now_ms()) / 1000)

    def is_banned(self, group: str) -> bool:
        block = self._blocks.get(group)
        return block is not None and block.banned and self.blocked_for_s(group) > 0

    # ---- acquiring ------------------------------------------------------------------------------
    def try_acquire(
        self, group: str, weight: int, orders: int = 0, priority: Priority = Priority.NORMAL
    ) -> float:
        """Reserve budget and return 0, or return the seconds to wait before asking again.

        Raises RateLimitedError while the group is banned (418): nothing is sent until the ban ends.
        """
        now = self._now_ms()
        block = self._blocks.get(group)
        if block is not None and block.until_ms > now:
            if block.banned:
                raise RateLimitedError(
                    f"{group}: IP banned by the exchange ({block.reason})",
                    code=-1003,
                    retry_after_s=(block.until_ms - now) / 1000,
                    banned=True,
                )
            return (block.until_ms - now) / 1000
        self._roll()
        wait_ms = 0
        if weight and self._weight.used + weight > self.weight_cap(priority):
            wait_ms = self._weight.ms_to_next(now)
        if orders:
            if self._orders_10s.used + orders > self._order_cap(self._orders_10s):
                wait_ms = max(wait_ms, self._orders_10s.ms_to_next(now))
            if self._orders_1m.used + orders > self._order_cap(self._orders_1m):
                wait_ms = max(wait_ms, self._orders_1m.ms_to_next(now))
        if wait_ms:
            return wait_ms / 1000
        self._weight.add(weight)
        self._orders_10s.add(orders)
        self._orders_1m.add(orders)
        return 0.0

    async def acquire(
        self,
        group: str,
        weight: int,
        orders: int = 0,
        priority: Priority = Priority.NORMAL,
        max_wait_s: float = 65.0,
    ) -> None:
        """Wait for budget (orders first); raise RateLimitedError if that would take more than `max_wait_s`."""
        waited = 0.0
        is_order = priority is Priority.ORDER
        if is_order:
            self._order_waiters += 1
            self._idle_event().clear()
        try:
            while True:
                if not is_order and self._order_waiters:
                    await self._idle_event().wait()
                    continue
                delay = self.try_acquire(group, weight, orders, priority)
                if delay <= 0:
                    return
                if waited + delay > max_wait_s:
                    self.rejections += 1
                    raise RateLimitedError(
                        f"{group}: request budget exhausted for {delay:.1f}s", code=-1003, retry_after_s=delay
                    )
                waited += delay
                await self._sleep(delay)
        finally:
            if is_order:
                self._order_waiters -= 1
                if not self._order_waiters:
                    self._idle_event().set()

    def abandon(self, weight: int, orders: int = 0) -> None:
        """The acquired request was never sent: give its budget back."""
        self._roll()
        self._weight.settle(weight, sent=False)
        self._orders_10s.settle(orders, sent=False)
        self._orders_1m.settle(orders, sent=False)

    def complete(
        self,
        weight: int,
        orders: int = 0,
        used_weight_1m: int | None = None,
        order_count_10s: int | None = None,
        order_count_1m: int | None = None,
    ) -> None:
        """The request was answered; take in the server's counters from its headers (None if absent)."""
        self._roll()
        self._weight.settle(weight, sent=True)
        self._orders_10s.settle(orders, sent=True)
        self._orders_1m.settle(orders, sent=True)
        self._weight.report(used_weight_1m)
        self._orders_10s.report(order_count_10s)
        self._orders_1m.report(order_count_1m)

    def on_rate_limited(
        self, group: str, retry_after_s: float | None, banned: bool, reason: str = ""
    ) -> float:
        """Record a 429 (back off to `retry_after_s` or the next minute) or a 418 ban; returns the back-off s."""
        now = self._now_ms()
        if retry_after_s is None or retry_after_s <= 0:
            wait_ms = self._weight.ms_to_next(now) if not banned else 2 * MINUTE_MS  # shortest Binance ban
        else:
            wait_ms = int(retry_after_s * 1000)
        block = self._blocks.setdefault(group, _GroupBlock())
        until = now + wait_ms
        if block.banned and block.until_ms > now:
            # A 429 during a ban never shortens the ban.
            until = max(until, block.until_ms)
            banned = True
        block.until_ms = until
        block.banned = banned
        block.reason = reason or ("418 banned" if banned else "429 too many requests")
        return (block.until_ms - now) / 1000

    # ---- internals ------------------------------------------------------------------------------
    def _roll(self) -> None:
        now = self._now_ms()
        self._weight.roll(now)
        self._orders_10s.roll(now)
        self._orders_1m.roll(now)

    def _idle_event(self) -> asyncio.Event:
        if self._orders_idle is None:
            self._orders_idle = asyncio.Event()
            self._orders_idle.set()
        return self._orders_idle
