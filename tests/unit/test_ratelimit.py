"""Limiter arithmetic: the 20% reserve, order priority, header feedback, 429 back-off and 418 bans."""

from __future__ import annotations

import asyncio
import random

import pytest

from casino_tui.clock import ManualClock
from casino_tui.exchange.binance.ratelimit import Priority, RateLimiter
from casino_tui.port import RateLimitedError

START = 1_767_225_600_000  # a minute boundary


def _limiter(clock: ManualClock) -> RateLimiter:
    async def sleep(seconds: float) -> None:
        # Let requests already in flight be answered first, as they would be in the real seconds waited.
        for _ in range(3):
            await asyncio.sleep(0)
        clock.advance(max(1, round(seconds * 1000)))
        await asyncio.sleep(0)

    return RateLimiter(clock.now_ms, sleep=sleep)


class _IpWeightServer:
    """Counts weight per minute the way Binance does and reports it in X-MBX-USED-WEIGHT-1M."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._minute = -1
        self.used = 0
        self.peak = 0

    def handle(self, weight: int) -> int:
        minute = self._clock.now_ms() // 60_000
        if minute != self._minute:
            self._minute, self.used = minute, 0
        self.used += weight
        self.peak = max(self.peak, self.used)
        return self.used


def test_caps_keep_a_twenty_percent_reserve_and_an_order_slice() -> None:
    limiter = _limiter(ManualClock(START))
    assert limiter.weight_cap(Priority.ORDER) == 1920  # 80% of 2400
    assert limiter.weight_cap(Priority.NORMAL) == 1680  # the top 10% is kept for order traffic


def test_normal_traffic_stops_at_its_cap_while_orders_still_get_through() -> None:
    clock = ManualClock(START + 15_000)
    limiter = _limiter(clock)
    assert limiter.try_acquire("market", 1680) == 0
    assert limiter.try_acquire("market", 1) == pytest.approx(45.0)  # wait for the next minute
    assert limiter.try_acquire("orders", 240, priority=Priority.ORDER) == 0
    assert limiter.try_acquire("orders", 1, priority=Priority.ORDER) > 0
    assert limiter.used_weight == 1920


def test_the_window_rolls_on_the_minute() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    limiter.try_acquire("market", 1600)
    limiter.complete(1600, used_weight_1m=1600)
    clock.advance(60_000)
    assert limiter.used_weight == 0
    assert limiter.try_acquire("market", 1600) == 0


def test_header_reports_weight_used_by_other_clients_on_the_same_ip() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    assert limiter.try_acquire("market", 5) == 0
    limiter.complete(5, used_weight_1m=1500)  # someone else on this IP used 1495
    assert limiter.used_weight == 1500
    assert limiter.try_acquire("market", 200) > 0
    assert limiter.try_acquire("market", 180) == 0


def test_an_older_smaller_header_never_lowers_the_estimate() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    for _ in range(3):
        limiter.try_acquire("account", 10)
    limiter.complete(10, used_weight_1m=530)  # 500 from another client on the IP
    limiter.complete(10, used_weight_1m=510)  # answered late, counted early
    limiter.complete(10)  # no header at all
    assert limiter.used_weight == 530


def test_estimate_settles_to_the_truth_once_nothing_is_in_flight() -> None:
    limiter = _limiter(ManualClock(START))
    for _ in range(3):
        limiter.try_acquire("account", 10)
    for _ in range(3):
        limiter.complete(10, used_weight_1m=30)
    assert limiter.used_weight == 30


def test_in_flight_weight_counts_until_answered() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    limiter.try_acquire("market", 40)
    limiter.try_acquire("market", 40)
    limiter.complete(40, used_weight_1m=40)  # the header does not include the second request yet
    assert limiter.used_weight == 80


def test_abandoned_request_gives_its_budget_back() -> None:
    limiter = _limiter(ManualClock(START))
    limiter.try_acquire("market", 100)
    limiter.abandon(100)
    assert limiter.used_weight == 0


def test_order_counts_keep_the_reserve_on_both_windows() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    for _ in range(240):
        assert limiter.try_acquire("orders", 0, orders=1, priority=Priority.ORDER) == 0
        limiter.complete(0, orders=1)
    assert limiter.try_acquire("orders", 0, orders=1, priority=Priority.ORDER) == pytest.approx(10.0)
    clock.advance(10_000)
    assert limiter.try_acquire("orders", 0, orders=1, priority=Priority.ORDER) == 0
    assert limiter.order_count_10s == 1 and limiter.order_count_1m == 241


def test_order_count_headers_are_adopted() -> None:
    limiter = _limiter(ManualClock(START))
    limiter.try_acquire("orders", 0, orders=1, priority=Priority.ORDER)
    limiter.complete(0, orders=1, order_count_10s=239, order_count_1m=500)
    assert limiter.order_count_10s == 239 and limiter.order_count_1m == 500
    assert limiter.try_acquire("orders", 0, orders=1, priority=Priority.ORDER) == 0
    assert limiter.try_acquire("orders", 0, orders=1, priority=Priority.ORDER) > 0


def test_429_backs_the_group_off_to_retry_after_only() -> None:
    clock = ManualClock(START + 1_000)
    limiter = _limiter(clock)
    assert limiter.on_rate_limited("market", 3.0, banned=False) == 3.0
    assert limiter.try_acquire("market", 1) == pytest.approx(3.0)
    assert limiter.try_acquire("account", 1) == 0  # other groups carry on
    clock.advance(3_000)
    assert limiter.try_acquire("market", 1) == 0


def test_429_without_retry_after_waits_for_the_next_minute() -> None:
    clock = ManualClock(START + 42_000)
    limiter = _limiter(clock)
    assert limiter.on_rate_limited("market", None, banned=False) == pytest.approx(18.0)


def test_418_stops_the_group_until_the_ban_ends() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    limiter.on_rate_limited("orders", 120.0, banned=True)
    with pytest.raises(RateLimitedError) as info:
        limiter.try_acquire("orders", 1, priority=Priority.ORDER)
    assert info.value.banned and info.value.retry_after_s == 120.0
    assert limiter.is_banned("orders")
    limiter.on_rate_limited("orders", 1.0, banned=False)  # a later 429 never shortens a ban
    clock.advance(119_000)
    with pytest.raises(RateLimitedError):
        limiter.try_acquire("orders", 1, priority=Priority.ORDER)
    clock.advance(1_000)
    assert not limiter.is_banned("orders")
    assert limiter.try_acquire("orders", 1, priority=Priority.ORDER) == 0


def test_418_without_a_time_assumes_the_shortest_ban() -> None:
    limiter = _limiter(ManualClock(START))
    assert limiter.on_rate_limited("market", None, banned=True) == 120.0


async def test_acquire_refuses_a_wait_longer_than_allowed() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    limiter.try_acquire("market", 1680)
    with pytest.raises(RateLimitedError, match="budget exhausted"):
        await limiter.acquire("market", 10, max_wait_s=5.0)


async def test_a_waiting_order_holds_back_normal_requests_until_it_is_served() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    limiter.try_acquire("orders", 1920, priority=Priority.ORDER)
    limiter.complete(1920, used_weight_1m=1920)
    granted: list[str] = []

    async def ask(name: str, priority: Priority) -> None:
        await limiter.acquire(name, 1, priority=priority, max_wait_s=120)
        granted.append(name)

    order = asyncio.create_task(ask("orders", Priority.ORDER))
    await asyncio.sleep(0)  # the order is now waiting
    normal = asyncio.create_task(ask("market", Priority.NORMAL))
    await asyncio.wait_for(asyncio.gather(order, normal), timeout=10)
    assert granted == ["orders", "market"]


async def test_storm_never_lets_used_weight_pass_80_percent() -> None:
    clock = ManualClock(START)
    limiter = _limiter(clock)
    server = _IpWeightServer(clock)
    rng = random.Random(20260101)
    served = 0

    async def client() -> None:
        nonlocal served
        for _ in range(60):
            weight = rng.choice([1, 1, 2, 5, 10, 20, 40])
            priority = Priority.ORDER if rng.random() < 0.2 else Priority.NORMAL
            await limiter.acquire("market", weight, priority=priority, max_wait_s=1e9)
            await asyncio.sleep(0)  # in flight while others ask
            limiter.complete(weight, used_weight_1m=server.handle(weight))
            served += 1
            if rng.random() < 0.3:
                clock.advance(rng.randint(1, 900))

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(40))), timeout=20)
    assert served == 40 * 60
    assert server.peak <= 1920, f"server counted {server.peak} weight in one minute (cap 1920)"
    assert server.peak > 1500  # the storm really pressed against the cap
