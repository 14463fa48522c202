"""A small scriptable in-memory exchange for unit tests of the trading side.

Market orders fill at the price the test sets; conditional orders wait until the test triggers them (or moves
the price through them). Failures are scripted: the next matching call raises a given error, optionally
AFTER the order was really placed (an unknown outcome that did go through). User-stream events are queued
and delivered when the test says so, or synchronously before the REST answer (`deliver_before_ack`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from casino_tui.config import TradingConfig
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.executor import OrderExecutor
from casino_tui.model import (
    AccountUpdate,
    Balance,
    Candle,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    SymbolRules,
)
from casino_tui.port import (
    ExchangeError,
    ExchangeHealth,
    MarketSink,
    OrderNotFoundError,
    RejectedError,
    UserSink,
)


def rules_for(symbol: str, tick: str = "0.1", step: str = "0.001", min_notional: str = "5") -> SymbolRules:
    return SymbolRules(symbol, tick, step, min_qty=step, max_qty="1000", min_notional=min_notional)


@dataclass
class _Script:
    op: str  # "place" | "cancel" | "get"
    error: ExchangeError | None
    after: bool  # raise after doing the work (placed / cancelled) instead of before
    match: Callable[[OrderRequest | str], bool]
    times: int = 1


@dataclass
class FakeOrder:
    request: OrderRequest
    order_id: str
    status: OrderStatus
    filled_qty: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    history: list[OrderStatus] = field(default_factory=list)


class FakeExchange:
    """Implements the Exchange protocol in memory; see the module docstring."""

    name = "fake"
    is_live = False

    def __init__(
        self, prices: dict[str, float], *, fee_rate: float = 0.0004, balance: float = 10_000.0
    ) -> None:
        self.prices = dict(prices)
        self.fee_rate = fee_rate
        self.wallet = balance
        self.orders: dict[str, FakeOrder] = {}
        self.position_qty: dict[str, float] = {}
        self.entry_price: dict[str, float] = {}
        self.placed: list[OrderRequest] = []  # every order that reached the book, in order
        self.cancel_calls: list[str] = []
        self.get_calls: list[str] = []
        self.events: list[OrderUpdate | AccountUpdate] = []
        self.deliver_before_ack = False
        self.refuse_reduce_only: set[str] = set()  # symbols whose closing orders are rejected
        self.hidden_lookups: dict[str, int] = {}  # client id -> get_order answers None this many times
        self._scripts: list[_Script] = []
        self._ids = itertools.count(1000)
        self._market: MarketSink | None = None
        self._user: UserSink | None = None
        self.now_ms = 1_767_225_600_000

    # -- scripting ---------------------------------------------------------------------------------------

    def fail_next(
        self,
        op: str,
        error: ExchangeError,
        *,
        after: bool = False,
        match: Callable[[OrderRequest | str], bool] = lambda _r: True,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `op` matching `match` raise `error` (after the work, if `after`)."""
        self._scripts.append(_Script(op, error, after, match, times))

    def _scripted(self, op: str, subject: OrderRequest | str) -> _Script | None:
        for script in self._scripts:
            if script.op == op and script.match(subject):
                script.times -= 1
                if script.times <= 0:
                    self._scripts.remove(script)
                return script
        return None

    def deliver(self) -> int:
        """Hand queued user-stream events to the sink; returns how many."""
        events, self.events = self.events, []
        for event in events:
            assert self._user is not None, "set_sinks first"
            if isinstance(event, OrderUpdate):
                self._user.on_order_update(event)
            else:
                self._user.on_account_update(event)
        return len(events)

    def open_conditional(self, symbol: str | None = None) -> list[FakeOrder]:
        return [
            o
            for o in self.orders.values()
            if o.request.type.is_conditional
            and o.status is OrderStatus.NEW
            and (symbol is None or o.request.symbol == symbol)
        ]

    def trigger(self, client_id: str, price: float | None = None) -> None:
        """Fire a conditional order: it closes the position at `price` (default: its trigger price)."""
        order = self.orders[client_id]
        assert order.status is OrderStatus.NEW, f"{client_id} is {order.status}"
        fill = price if price is not None else float(order.request.trigger_price or 0.0)
        self._fill(order, fill, self._close_qty(order.request))

    def move_price(self, symbol: str, price: float) -> None:
        """Set the price and fire every conditional order it crosses."""
        self.prices[symbol] = price
        for order in self.open_conditional(symbol):
            if self._crossed(order.request, price):
                self._fill(order, price, self._close_qty(order.request))

    def cancel_behind_back(self, client_id: str, status: OrderStatus = OrderStatus.EXPIRED) -> None:
        """The exchange drops an order on its own (expiry, system cancel)."""
        order = self.orders[client_id]
        order.status = status
        self._emit(order)

    # -- protocol ----------------------------------------------------------------------------------------

    def set_sinks(self, market: MarketSink, user: UserSink) -> None:
        self._market, self._user = market, user

    async def start(self, symbols: list[str]) -> None:
        return None

    async def start_market(self, symbols: list[str]) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def server_time_ms(self) -> int:
        return self.now_ms

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        return {s: rules_for(s) for s in self.prices}

    async def klines(
        self, symbol: str, timeframe: str, limit: int, end_ms: int | None = None
    ) -> list[Candle]:
        return []

    async def tickers(self) -> dict[str, float]:
        return dict(self.prices)

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        script = self._scripted("place", request)
        if script is not None and not script.after:
            raise script.error  # type: ignore[misc]
        if request.client_id in self.orders and not self.orders[request.client_id].status.is_final:
            raise RejectedError("Duplicate clientOrderId", -4116)
        order = FakeOrder(request, str(next(self._ids)), OrderStatus.NEW)
        symbol = request.symbol
        if request.type.is_conditional:
            if self._crossed(request, self.prices[symbol]):
                raise RejectedError("Order would immediately trigger.", -2021)
            self.orders[request.client_id] = order
            self.placed.append(request)
            self._emit(order)
        else:
            position = self.position_qty.get(symbol, 0.0)
            qty = request.quantity
            if request.reduce_only:
                closes = position != 0 and (position > 0) != (request.side.sign > 0)
                if symbol in self.refuse_reduce_only or not closes:
                    raise RejectedError("ReduceOnly Order is rejected.", -2022)
                qty = min(qty, abs(position))
            self.orders[request.client_id] = order
            self.placed.append(request)
            self._fill(order, self.prices[symbol], qty)
        ack = self._update(order)
        if script is not None:
            raise script.error  # type: ignore[misc]
        if self.deliver_before_ack:
            self.deliver()
        return ack

    async def cancel_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        self.cancel_calls.append(client_id)
        script = self._scripted("cancel", client_id)
        if script is not None and not script.after:
            raise script.error  # type: ignore[misc]
        order = self.orders.get(client_id)
        if order is None or order.status.is_final or order.status is OrderStatus.TRIGGERED:
            raise OrderNotFoundError("Unknown order sent.", -2011)
        order.status = OrderStatus.CANCELED
        self._emit(order)
        if script is not None:
            raise script.error  # type: ignore[misc]
        return self._update(order)

    async def get_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        self.get_calls.append(client_id)
        script = self._scripted("get", client_id)
        if script is not None:
            raise script.error  # type: ignore[misc]
        if self.hidden_lookups.get(client_id, 0) > 0:
            self.hidden_lookups[client_id] -= 1
            return None
        order = self.orders.get(client_id)
        return self._update(order) if order is not None else None

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return [
            self._update(o)
            for o in self.orders.values()
            if o.status is OrderStatus.NEW and (symbol is None or o.request.symbol == symbol)
        ]

    async def positions(self) -> list[Position]:
        return [
            Position(s, q, self.entry_price.get(s, 0.0), self.prices[s])
            for s, q in self.position_qty.items()
            if q
        ]

    async def balance(self) -> Balance:
        return Balance("USDT", self.wallet, self.wallet)

    def health(self) -> ExchangeHealth:
        return ExchangeHealth()

    def share_secrets(self, hide: Callable[[str], None]) -> None:
        pass  # no key

    async def key_permissions(self) -> None:
        return None

    async def is_hedge_mode(self) -> bool:
        return False

    def pump(self, until_ms: int | None = None) -> int:
        return 0

    def reopen_breakers(self, saved: dict[str, Any]) -> None:
        pass

    # -- internals ---------------------------------------------------------------------------------------

    @staticmethod
    def _crossed(request: OrderRequest, price: float) -> bool:
        trigger = float(request.trigger_price or 0.0)
        # A SELL stop sits below the price, a SELL take-profit above it; BUY legs are the mirror.
        below = (request.type is OrderType.STOP_MARKET) == (request.side.sign < 0)
        return price <= trigger if below else price >= trigger

    def _close_qty(self, request: OrderRequest) -> float:
        if request.close_position:
            return abs(self.position_qty.get(request.symbol, 0.0))
        return request.quantity

    def _fill(self, order: FakeOrder, price: float, qty: float) -> None:
        symbol = order.request.symbol
        signed = qty * order.request.side.sign
        before = self.position_qty.get(symbol, 0.0)
        after = round(before + signed, 9)
        if before == 0 or (before > 0) == (signed > 0):
            total = abs(before) + qty
            self.entry_price[symbol] = (abs(before) * self.entry_price.get(symbol, 0.0) + qty * price) / total
        elif after != 0 and (after > 0) != (before > 0):
            self.entry_price[symbol] = price
        self.position_qty[symbol] = after
        order.filled_qty, order.avg_price = qty, price
        order.fee = qty * price * self.fee_rate
        order.status = OrderStatus.FILLED
        self.wallet -= order.fee
        self._emit(order)
        self.events.append(
            AccountUpdate(
                balances=(Balance("USDT", self.wallet, self.wallet),),
                positions=(
                    Position(symbol, after, self.entry_price.get(symbol, 0.0) if after else 0.0, price),
                ),
                ts_ms=self.now_ms,
            )
        )

    def _update(self, order: FakeOrder) -> OrderUpdate:
        r = order.request
        filled = order.status is OrderStatus.FILLED
        return OrderUpdate(
            symbol=r.symbol,
            client_id=r.client_id,
            order_id=order.order_id,
            side=r.side,
            type=r.type,
            status=order.status,
            quantity=r.quantity,
            filled_qty=order.filled_qty,
            avg_price=order.avg_price,
            last_qty=order.filled_qty if filled else 0.0,
            last_price=order.avg_price if filled else 0.0,
            fee=order.fee,
            trigger_price=r.trigger_price,
            reduce_only=r.reduce_only,
            close_position=r.close_position,
            is_conditional=r.type.is_conditional,
            ts_ms=self.now_ms,
        )

    def _emit(self, order: FakeOrder) -> None:
        order.history.append(order.status)
        self.events.append(self._update(order))


def make_croupier(fake: FakeExchange, clock, **trading) -> Croupier:
    """A Croupier on `fake` with fast backoff, wired as the fake's user sink."""
    config = TradingConfig(**{"notional_usdt": 200.0, "max_positions": 4, **trading})
    executor = OrderExecutor(fake, clock, backoff_s=0.001, max_backoff_s=0.005, lookup_attempts=4)
    croupier = Croupier(fake, {s: rules_for(s) for s in fake.prices}, config, clock, executor=executor)
    fake.set_sinks(None, croupier)  # type: ignore[arg-type]
    return croupier


async def settle(fake: FakeExchange, croupier: Croupier, rounds: int = 50) -> None:
    """Deliver stream events and wait for the croupier's background work until both are quiet."""
    for _ in range(rounds):
        delivered = fake.deliver()
        await croupier.wait_idle()
        if not delivered and not fake.events:
            return
    raise AssertionError("exchange events and croupier work did not settle")
