"""The account half of the exchange port over a `MatchingEngine`: orders, positions, balance, order-rate
health and the user-event stream. The sim and the replay adapter inherit it and add their markets."""

from __future__ import annotations

from collections import deque

from casino_tui.clock import Clock
from casino_tui.exchange.sim.matching import MatchingEngine
from casino_tui.exchange.sim.user_events import UserEventQueue
from casino_tui.model import Balance, OrderRequest, OrderUpdate, Position
from casino_tui.port import ExchangeHealth, OrderNotFoundError


class MatchingAccount:
    """Call `attach_account()` once `self.clock` and `self.matching` exist."""

    clock: Clock
    matching: MatchingEngine
    user_events: UserEventQueue
    _order_times: deque[int]

    def attach_account(self) -> None:
        """Route the matching engine's events to the user stream and start counting orders."""
        self.user_events = UserEventQueue()
        self.matching.listeners.append(self.user_events.push)
        self._order_times = deque()

    def flush_events(self) -> None:
        """Deliver every queued user event now, in order (tests, shutdown)."""
        self.user_events.flush()

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Submit an order; returns its state after matching (Binance RESULT style: FILLED for MARKET).

        Raises RejectedError with the Binance code; the stream events follow via `call_soon`.
        """
        self._order_times.append(self.clock.now_ms())
        return self.matching.place(request)

    async def cancel_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        """Cancel an open order; OrderNotFoundError (-2011) if unknown or already closed."""
        return self.matching.cancel(symbol, client_id, conditional)

    async def get_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        """The latest state of the order with this client id, or None if the sim never saw it."""
        try:
            return self.matching.get_order(symbol, client_id, conditional)
        except OrderNotFoundError:
            return None

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Open plain orders and untriggered conditional orders (`is_conditional=True`) together."""
        return self.matching.open_orders(symbol)

    async def positions(self) -> list[Position]:
        """Non-zero positions with mark price and unrealised PnL."""
        return self.matching.positions()

    async def balance(self) -> Balance:
        """USDT wallet, available margin and unrealised PnL at mark."""
        return self.matching.balance()

    def health(self) -> ExchangeHealth:
        """Always healthy; counts the orders received in the last 10 s and 1 min of clock time."""
        now = self.clock.now_ms()
        times = self._order_times
        while times and times[0] <= now - 60_000:
            times.popleft()
        return ExchangeHealth(
            order_count_10s=sum(1 for t in times if t > now - 10_000),
            order_count_1m=len(times),
        )
