"""Request weights and order counts per endpoint (BINANCE.md §3, §5), and the sliding-window limiter.

IP weight: 2400 per minute; going over answers 429 -1003, and a client that keeps sending while limited is
banned (418) for a while. Order counts: 300 per 10 s and 1200 per minute (429 -1015).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping

import msgspec

from casino_tui.sandbox.errors import ApiError

WEIGHT_LIMIT_1M = 2400
ORDER_LIMIT_10S = 300
ORDER_LIMIT_1M = 1200
# Requests a client may send while limited before it is banned, and the first ban's length (Binance: 2 min).
REQUESTS_BEFORE_BAN = 20
BAN_S = 120.0

RATE_LIMITS = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT_1M},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": ORDER_LIMIT_1M},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDER_LIMIT_10S},
)


class Cost(msgspec.Struct, frozen=True):
    """What one request costs: IP weight, and its count on the 10 s and 1 min order counters."""

    weight: int
    orders_10s: int = 0
    orders_1m: int = 0

    @property
    def is_order(self) -> bool:
        return self.orders_10s > 0 or self.orders_1m > 0


def _with_symbol(with_symbol: int, without: int) -> Callable[[Mapping[str, str]], int]:
    return lambda p: with_symbol if p.get("symbol") else without


def _limit(p: Mapping[str, str]) -> int:
    raw = p.get("limit", "")
    return int(raw) if raw.isdigit() else 500


def _klines(p: Mapping[str, str]) -> int:
    limit = _limit(p)
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    return 5 if limit <= 1000 else 10


def _depth(p: Mapping[str, str]) -> int:
    limit = _limit(p)
    if limit <= 50:
        return 2
    return {100: 5, 500: 10}.get(limit, 20)


_ORDER = Cost(weight=0, orders_10s=1, orders_1m=1)

# (method, path) -> fixed Cost, or a function of the parameters giving the IP weight.
_TABLE: dict[tuple[str, str], Cost | Callable[[Mapping[str, str]], int]] = {
    ("GET", "/fapi/v1/ping"): Cost(1),
    ("GET", "/fapi/v1/time"): Cost(1),
    ("GET", "/fapi/v1/exchangeInfo"): Cost(1),
    ("GET", "/fapi/v1/ticker/price"): _with_symbol(1, 2),
    ("GET", "/fapi/v2/ticker/price"): _with_symbol(1, 2),
    ("GET", "/fapi/v1/ticker/bookTicker"): _with_symbol(2, 5),
    ("GET", "/fapi/v1/premiumIndex"): _with_symbol(1, 10),
    ("GET", "/fapi/v1/klines"): _klines,
    ("GET", "/fapi/v1/depth"): _depth,
    ("POST", "/fapi/v1/order"): _ORDER,
    ("PUT", "/fapi/v1/order"): _ORDER,
    ("GET", "/fapi/v1/order"): Cost(1),
    ("DELETE", "/fapi/v1/order"): Cost(1),
    ("POST", "/fapi/v1/batchOrders"): Cost(weight=5, orders_10s=5, orders_1m=1),
    ("GET", "/fapi/v1/openOrders"): _with_symbol(1, 40),
    ("DELETE", "/fapi/v1/allOpenOrders"): Cost(1),
    # Algo orders: 0 IP weight (documented); counting them as orders is UNCONFIRMED but harmless.
    ("POST", "/fapi/v1/algoOrder"): _ORDER,
    ("GET", "/fapi/v1/algoOrder"): Cost(1),
    ("DELETE", "/fapi/v1/algoOrder"): Cost(1),
    ("GET", "/fapi/v1/openAlgoOrders"): _with_symbol(1, 40),
    ("DELETE", "/fapi/v1/algoOpenOrders"): Cost(1),
    ("GET", "/fapi/v2/positionRisk"): Cost(5),
    ("GET", "/fapi/v3/positionRisk"): Cost(5),
    ("GET", "/fapi/v2/balance"): Cost(5),
    ("GET", "/fapi/v3/balance"): Cost(5),
    ("GET", "/fapi/v2/account"): Cost(5),
    ("GET", "/fapi/v3/account"): Cost(5),
    ("GET", "/fapi/v1/accountConfig"): Cost(5),
    ("GET", "/fapi/v1/symbolConfig"): Cost(5),
    ("GET", "/fapi/v1/positionSide/dual"): Cost(30),
    ("POST", "/fapi/v1/leverage"): Cost(1),
    ("POST", "/fapi/v1/marginType"): Cost(1),
    ("GET", "/fapi/v1/userTrades"): Cost(5),
    ("GET", "/fapi/v1/allOrders"): Cost(5),
    ("GET", "/fapi/v1/allAlgoOrders"): Cost(5),
    ("GET", "/fapi/v1/income"): Cost(30),
    ("GET", "/fapi/v1/leverageBracket"): Cost(1),
    ("GET", "/fapi/v1/commissionRate"): Cost(20),
    ("GET", "/fapi/v1/ticker/24hr"): _with_symbol(1, 40),
    ("POST", "/fapi/v1/listenKey"): Cost(1),
    ("PUT", "/fapi/v1/listenKey"): Cost(1),
    ("DELETE", "/fapi/v1/listenKey"): Cost(1),
    ("GET", "/sapi/v1/account/apiRestrictions"): Cost(1),
}


def cost_of(method: str, path: str, params: Mapping[str, str]) -> Cost:
    """The documented cost of a request; unknown paths weigh 1 (Binance still counts 404s)."""
    entry = _TABLE.get((method, path))
    if entry is None:
        return Cost(1)
    if isinstance(entry, Cost):
        return entry
    return Cost(entry(params))


class SlidingWindow:
    """Sum of amounts added within the last `span_ms`, by a monotonic millisecond clock."""

    def __init__(self, span_ms: int) -> None:
        self.span_ms = span_ms
        self._items: collections.deque[tuple[int, int]] = collections.deque()
        self._total = 0

    def _expire(self, now_ms: int) -> None:
        cutoff = now_ms - self.span_ms
        while self._items and self._items[0][0] <= cutoff:
            self._total -= self._items.popleft()[1]

    def total(self, now_ms: int) -> int:
        self._expire(now_ms)
        return self._total

    def add(self, now_ms: int, amount: int) -> int:
        self._expire(now_ms)
        if amount:
            self._items.append((now_ms, amount))
            self._total += amount
        return self._total

    def ms_until_below(self, now_ms: int, limit: int) -> int:
        """How long until the total falls to `limit` or below, if nothing more is added."""
        self._expire(now_ms)
        excess = self._total - limit
        for ts, amount in self._items:
            if excess <= 0:
                break
            excess -= amount
            if excess <= 0:
                return max(0, ts + self.span_ms - now_ms)
        return 0


class Usage(msgspec.Struct, frozen=True):
    """The counters a response reports in its X-MBX-* headers."""

    weight_1m: int
    orders_10s: int
    orders_1m: int


class RateLimiter:
    """IP weight and order counters with Binance's 429 → 418 escalation.

    `now_ms` is a monotonic clock for the windows; `epoch_ms` is the server clock quoted in 'banned until'.
    """

    def __init__(
        self,
        now_ms: Callable[[], int],
        epoch_ms: Callable[[], int],
        weight_limit: int = WEIGHT_LIMIT_1M,
        requests_before_ban: int = REQUESTS_BEFORE_BAN,
        ban_s: float = BAN_S,
    ) -> None:
        self._now_ms = now_ms
        self._epoch_ms = epoch_ms
        self.weight_limit = weight_limit
        self.requests_before_ban = requests_before_ban
        self.ban_s = ban_s
        self._weight = SlidingWindow(60_000)
        self._orders_10s = SlidingWindow(10_000)
        self._orders_1m = SlidingWindow(60_000)
        self._sent_while_limited = 0
        self._banned_until_ms = 0

    def usage(self) -> Usage:
        now = self._now_ms()
        return Usage(self._weight.total(now), self._orders_10s.total(now), self._orders_1m.total(now))

    def banned_for_ms(self) -> int:
        return max(0, self._banned_until_ms - self._now_ms())

    def ban(self, seconds: float) -> None:
        self._banned_until_ms = self._now_ms() + int(seconds * 1000)
        self._sent_while_limited = 0

    def note_limited_request(self, ban_after: int, ban_s: float) -> bool:
        """Count a request sent while limited; True (and the ban starts) once more than `ban_after` were sent."""
        self._sent_while_limited += 1
        if self._sent_while_limited > ban_after:
            self.ban(ban_s)
            return True
        return False

    def charge(self, cost: Cost) -> None:
        """Count the request, or raise 429 (-1003 / -1015) if it would break a limit."""
        now = self._now_ms()
        if self._weight.total(now) + cost.weight > self.weight_limit:
            retry_ms = self._weight.ms_until_below(now, self.weight_limit - cost.weight)
            if self.note_limited_request(self.requests_before_ban, self.ban_s):
                raise self.banned_error()
            raise too_many_requests(self.weight_limit, retry_ms)
        if cost.is_order:
            if self._orders_10s.total(now) + cost.orders_10s > ORDER_LIMIT_10S:
                raise too_many_orders(ORDER_LIMIT_10S, "TEN_SECONDS", self._orders_10s.ms_until_below(now, 0))
            if self._orders_1m.total(now) + cost.orders_1m > ORDER_LIMIT_1M:
                raise too_many_orders(ORDER_LIMIT_1M, "MINUTE", self._orders_1m.ms_until_below(now, 0))
            self._orders_10s.add(now, cost.orders_10s)
            self._orders_1m.add(now, cost.orders_1m)
        self._weight.add(now, cost.weight)
        self._sent_while_limited = 0

    def banned_error(self) -> ApiError:
        """418 with Binance's 'IP banned until <epoch ms>' text and a Retry-After in seconds."""
        left_ms = self.banned_for_ms()
        until = self._epoch_ms() + left_ms
        return ApiError(
            -1003,
            f"Way too many requests; IP(127.0.0.1) banned until {until}. "
            "Please use the websocket for live updates to avoid bans.",
            status=418,
            headers={"Retry-After": str(max(1, -(-left_ms // 1000)))},
        )


def too_many_requests(limit: int, retry_ms: int) -> ApiError:
    return ApiError(
        -1003,
        f"Too many requests; current limit of IP(127.0.0.1) is {limit} requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
        status=429,
        headers={"Retry-After": str(max(1, -(-retry_ms // 1000)))},
    )


def too_many_orders(limit: int, interval: str, retry_ms: int) -> ApiError:
    return ApiError(
        -1015,
        f"Too many new orders; current limit is {limit} orders per {interval}.",
        status=429,
        headers={"Retry-After": str(max(1, -(-retry_ms // 1000)))},
    )
