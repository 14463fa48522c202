"""Matching engine of the simulated exchange: one-way positions, market/limit fills, conditional triggers, margin.

It validates orders as Binance USD-M does (same error codes), fills MARKET orders at the last trade price
moved against the taker by the slippage, triggers STOP_MARKET / TAKE_PROFIT_MARKET on trade prices, and
reports every state change as the `OrderUpdate` / `AccountUpdate` events a real user stream carries, to its
listeners, synchronously and in order. Not modelled: liquidation, funding, partial fills, order-book depth.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Callable, KeysView, Mapping

import msgspec
from msgspec.structs import replace

from casino_tui.clock import Clock
from casino_tui.model import (
    AccountUpdate,
    Balance,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Side,
    SymbolRules,
    Trade,
)
from casino_tui.port import OrderNotFoundError, RejectedError

log = logging.getLogger("casino.sim.matching")

MatchingEvent = OrderUpdate | AccountUpdate
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_EPS = 1e-9
# Finished orders an account state keeps (per book, newest), so a restart can still look them up by client id.
FINISHED_KEPT = 200


class RestingOrder(msgspec.Struct, frozen=True):
    """An open order as the matching engine holds it: what was asked, and its state now."""

    request: OrderRequest
    state: OrderUpdate


class AccountState(msgspec.Struct, kw_only=True):
    """The account of a MatchingEngine: wallet, positions, open orders, and the recently finished ones."""

    wallet: float
    realized_pnl: float  # since the account was opened, like Binance's REALIZED_PNL income
    fees: float  # likewise, COMMISSION
    order_seq: int  # the last order id handed out: ids never repeat
    positions: dict[str, tuple[float, float]]  # symbol -> (signed qty, entry price)
    resting: list[RestingOrder]  # in arrival order, which decides who fires first on one trade
    finished: list[OrderUpdate]


def _decimals(step: str) -> int:
    return len(step.rstrip("0").split(".")[1]) if "." in step.rstrip("0") else 0


def _on_grid(value: float, step: str) -> bool:
    n = value / float(step)
    return abs(n - round(n)) < 1e-6


class _Resting:
    """An open LIMIT order or an untriggered conditional order."""

    __slots__ = ("request", "state", "key")

    def __init__(self, request: OrderRequest, state: OrderUpdate, key: tuple[str, str, bool]) -> None:
        self.request = request
        self.state = state
        self.key = key


class MatchingEngine:
    """Orders, positions and the USDT wallet of one simulated cross-margin account in one-way mode."""

    def __init__(
        self,
        rules: dict[str, SymbolRules],
        start_balance: float,
        taker_fee: float,
        slippage_bps: float,
        clock: Clock,
        *,
        leverage: int = 5,
        maker_fee: float | None = None,
        finished_kept: int | None = None,
    ) -> None:
        self.rules = rules
        self.taker_fee = taker_fee
        self.maker_fee = taker_fee / 2.0 if maker_fee is None else maker_fee
        self.slippage = slippage_bps / 10_000.0
        self.leverage = leverage
        self.clock = clock
        self.wallet = float(start_balance)
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.listeners: list[Callable[[MatchingEvent], None]] = []
        self._qty_dec = {s: _decimals(r.step_size) for s, r in rules.items()}
        self._last: dict[str, float] = {}
        self._mark: dict[str, float] = {}
        self._pos: dict[str, list[float]] = {}  # symbol -> [signed qty, entry price]; absent when flat
        self._orders: dict[tuple[str, str], OrderUpdate] = {}  # plain orders, open and closed, by client id
        self._algos: dict[tuple[str, str], OrderUpdate] = {}  # conditional orders, open and closed
        self._open: dict[tuple[str, str, bool], _Resting] = {}
        # Symbols with resting orders only: a trade of any other symbol costs one dict lookup.
        self._watch: dict[str, list[_Resting]] = {}
        self._ids = 0
        # With a bound (long replays), only the newest finished orders stay known to `get_order`.
        self._finished_kept = finished_kept
        self._finished: deque[tuple[bool, tuple[str, str]]] = deque()

    # -- market data -----------------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        """Record the trade price and fire any resting order it reaches."""
        self._last[trade.symbol] = trade.price
        if trade.symbol in self._watch:
            self._check_resting(trade.symbol, trade.price, trade.ts_ms)

    @property
    def watched_symbols(self) -> KeysView[str]:
        """Symbols with resting orders (a live view): trades of other symbols need not reach `on_trade`."""
        return self._watch.keys()

    def set_last_price(self, symbol: str, price: float) -> None:
        """Seed or move the last trade price without a trade (no triggers are checked)."""
        self._last[symbol] = price

    def set_last_prices(self, prices: Mapping[str, float]) -> None:
        """Bulk update of last prices, for a feeder that passes only watched symbols' trades to `on_trade`."""
        self._last.update(prices)

    def set_mark_price(self, symbol: str, price: float) -> None:
        """Mark price used for unrealised PnL, margin and the notional check of market orders."""
        self._mark[symbol] = price

    def set_mark_prices(self, prices: Mapping[str, float]) -> None:
        """Bulk form of `set_mark_price`."""
        self._mark.update(prices)

    def last_price(self, symbol: str) -> float:
        """Last trade price (the mark if no trade was seen; 0 if neither is known)."""
        return self._last.get(symbol) or self._mark.get(symbol, 0.0)

    def mark_price(self, symbol: str) -> float:
        """Mark price (the last trade price if no mark was set; 0 if neither is known)."""
        return self._mark.get(symbol) or self._last.get(symbol, 0.0)

    # -- orders ----------------------------------------------------------------------------------------

    def place(self, req: OrderRequest) -> OrderUpdate:
        """Validate and execute `req`; returns its state afterwards (FILLED for a market order, NEW if resting).

        Raises RejectedError with the Binance code when the exchange would refuse the order.
        """
        rules = self.rules.get(req.symbol)
        if rules is None:
            raise RejectedError(f"Invalid symbol: {req.symbol}", -1121)
        cond = req.type.is_conditional
        if req.client_id:
            if not _CLIENT_ID.match(req.client_id):
                raise RejectedError("Invalid newClientOrderId.", -4015)
            if (req.symbol, req.client_id, cond) in self._open:
                raise RejectedError("Duplicate clientOrderId.", -4116)
        else:
            req = replace(req, client_id=f"sim-{self._ids + 1}")
        qty = self._validate(req, rules)
        now = self.clock.now_ms()
        self._ids += 1
        order_id = str((1_000_000_000_000_000 if cond else 8_000_000_000) + self._ids)
        base = OrderUpdate(
            symbol=req.symbol,
            client_id=req.client_id,
            order_id=order_id,
            side=req.side,
            type=req.type,
            status=OrderStatus.NEW,
            quantity=qty,
            trigger_price=req.trigger_price,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            is_conditional=cond,
            ts_ms=now,
        )
        if cond or req.type is OrderType.LIMIT and not self._limit_is_marketable(req):
            self._record(base)
            self._rest(req, base)
            self._emit(base)
            return base
        self._record(base)
        self._emit(base)
        ref = self.last_price(req.symbol)
        price = self._taker_price(rules, req.side, ref)
        if req.type is OrderType.LIMIT and req.price is not None:
            price = min(price, req.price) if req.side is Side.BUY else max(price, req.price)
        return self._execute(base, qty, price, self.taker_fee, now)

    def _validate(self, req: OrderRequest, rules: SymbolRules) -> float:
        """Check filters, reduce-only, notional and margin; returns the quantity to use (clipped if reduce-only)."""
        cond = req.type.is_conditional
        if req.type is OrderType.MARKET and self.last_price(req.symbol) <= 0:
            raise RejectedError("No market price for this symbol yet.", -4131)  # nothing to fill against
        if cond:
            if req.trigger_price is None or req.trigger_price <= 0:
                raise RejectedError("Mandatory parameter 'triggerPrice' was not sent.", -1102)
            if not _on_grid(req.trigger_price, rules.tick_size):
                raise RejectedError("Precision is over the maximum defined for this asset.", -1111)
            if self._would_trigger(req, self.last_price(req.symbol)):
                raise RejectedError("Order would immediately trigger.", -2021)
        if req.type is OrderType.LIMIT:
            if req.price is None or req.price <= 0:
                raise RejectedError("Mandatory parameter 'price' was not sent.", -1102)
            if not _on_grid(req.price, rules.tick_size):
                raise RejectedError("Precision is over the maximum defined for this asset.", -1111)
        if cond and req.close_position:
            return 0.0 if req.quantity <= 0 else self._check_qty(req, rules)
        qty = self._check_qty(req, rules)
        if req.reduce_only:
            if cond:  # checked when it triggers, as Binance does
                return qty
            return self._reduce_qty(req.symbol, req.side, qty)
        # Binance checks a market order's notional at the mark price, others at their own price.
        ref = (
            self.mark_price(req.symbol)
            if req.type is OrderType.MARKET
            else (req.price or req.trigger_price or 0.0)
        )
        if qty * ref < float(rules.min_notional) - _EPS:
            raise RejectedError(f"Order's notional must be no smaller than {rules.min_notional}.", -4164)
        if not cond:
            self._check_margin(req.symbol, req.side, qty, ref)
        return qty

    def _check_qty(self, req: OrderRequest, rules: SymbolRules) -> float:
        qty = req.quantity
        if qty <= 0:
            raise RejectedError("Quantity less than or equal to zero.", -4003)
        if not _on_grid(qty, rules.step_size):
            raise RejectedError("Precision is over the maximum defined for this asset.", -1111)
        if qty < float(rules.min_qty) - _EPS:
            raise RejectedError(f"Quantity less than minimum {rules.min_qty}.", -4004)
        cap = float(rules.market_max_qty) if req.type is not OrderType.LIMIT else 0.0
        if qty > (cap or float(rules.max_qty)) + _EPS:
            raise RejectedError("Quantity greater than maximum.", -4005)
        return round(qty, self._qty_dec[req.symbol])

    def _reduce_qty(self, symbol: str, side: Side, qty: float) -> float:
        """Reduce-only: the order may only shrink the position, so it is clipped to it, or refused (-2022)."""
        pos = self._pos.get(symbol)
        if pos is None or pos[0] * side.sign >= 0:
            raise RejectedError("ReduceOnly Order is rejected.", -2022)
        return min(qty, abs(pos[0]))

    def _check_margin(self, symbol: str, side: Side, qty: float, price: float) -> None:
        pos = self._pos.get(symbol)
        held = pos[0] if pos else 0.0
        opening = qty if held * side.sign >= 0 else max(0.0, qty - abs(held))
        needed = opening * price * (1.0 / self.leverage + self.taker_fee)
        if needed > self.balance().available + _EPS:
            raise RejectedError("Margin is insufficient.", -2019)

    @staticmethod
    def _would_trigger(req: OrderRequest, price: float) -> bool:
        trigger = req.trigger_price or 0.0
        if price <= 0:
            return False
        above = (req.type is OrderType.STOP_MARKET) == (req.side is Side.BUY)
        return price >= trigger if above else price <= trigger

    def _limit_is_marketable(self, req: OrderRequest) -> bool:
        last = self.last_price(req.symbol)
        limit = req.price or 0.0
        return last > 0 and (last <= limit if req.side is Side.BUY else last >= limit)

    def _taker_price(self, rules: SymbolRules, side: Side, ref: float) -> float:
        """`ref` moved by the slippage against the taker, rounded to the tick in the taker's disfavour."""
        tick = float(rules.tick_size)
        steps = ref * (1.0 + side.sign * self.slippage) / tick
        n = math.ceil(steps - 1e-6) if side is Side.BUY else math.floor(steps + 1e-6)
        return round(n * tick, _decimals(rules.tick_size))

    def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        """Cancel an open order; OrderNotFoundError (-2011) if it is unknown or already closed."""
        resting = self._open.get((symbol, client_id, conditional))
        if resting is None:
            raise OrderNotFoundError("Unknown order sent.", -2011)
        self._unrest(resting)
        update = replace(resting.state, status=OrderStatus.CANCELED, ts_ms=self.clock.now_ms())
        self._record(update)
        self._emit(update)
        return update

    def get_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        """The latest state of the order with this client id; OrderNotFoundError (-2013) if there is none."""
        found = (self._algos if conditional else self._orders).get((symbol, client_id))
        if found is None:
            raise OrderNotFoundError("Order does not exist.", -2013)
        return found

    def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Open LIMIT orders and untriggered conditional orders, oldest first."""
        return [r.state for r in self._open.values() if symbol is None or r.state.symbol == symbol]

    # -- execution -------------------------------------------------------------------------------------

    def _rest(self, req: OrderRequest, state: OrderUpdate) -> None:
        resting = _Resting(req, state, (req.symbol, req.client_id, state.is_conditional))
        self._open[resting.key] = resting
        self._watch.setdefault(req.symbol, []).append(resting)

    def _unrest(self, resting: _Resting) -> None:
        del self._open[resting.key]
        watchers = self._watch[resting.state.symbol]
        watchers.remove(resting)
        if not watchers:
            del self._watch[resting.state.symbol]

    def _check_resting(self, symbol: str, price: float, ts: int) -> None:
        for resting in list(self._watch[symbol]):
            if resting.key not in self._open:  # closed by an earlier order of this same trade
                continue
            req = resting.request
            if req.type is OrderType.LIMIT:
                limit = req.price  # a resting limit order passed validation with a positive price
                if limit is not None and (price <= limit if req.side is Side.BUY else price >= limit):
                    self._unrest(resting)
                    self._fill_resting(resting, limit, self.maker_fee, ts)
            elif self._would_trigger(req, price):
                self._unrest(resting)
                triggered = replace(resting.state, status=OrderStatus.TRIGGERED, ts_ms=ts)
                self._record(triggered)
                self._emit(triggered)
                taker = self._taker_price(self.rules[symbol], req.side, price)
                self._fill_resting(resting, taker, self.taker_fee, ts)

    def _fill_resting(self, resting: _Resting, price: float, fee_rate: float, ts: int) -> None:
        """Execute a triggered conditional (as a market order) or a reached limit order, or end it."""
        req, state = resting.request, resting.state
        qty = state.quantity
        pos = self._pos.get(req.symbol)
        if req.reduce_only or req.close_position:
            reducible = abs(pos[0]) if pos is not None and pos[0] * req.side.sign < 0 else 0.0
            qty = reducible if req.close_position else min(qty, reducible)
            if qty <= 0:
                self._finish(state, OrderStatus.EXPIRED, ts, "reduce-only: no position to reduce")
                return
        else:
            try:
                self._check_margin(req.symbol, req.side, qty, price)
            except RejectedError:
                self._finish(state, OrderStatus.REJECTED, ts, "margin is insufficient")
                return
        self._execute(replace(state, quantity=qty), qty, price, fee_rate, ts)

    def _finish(self, state: OrderUpdate, status: OrderStatus, ts: int, reason: str) -> None:
        update = replace(state, status=status, ts_ms=ts, reason=reason)
        self._record(update)
        self._emit(update)

    def _execute(self, state: OrderUpdate, qty: float, price: float, fee_rate: float, ts: int) -> OrderUpdate:
        """Fill `qty` at `price`: move the position and wallet, then emit FILLED and the account update."""
        symbol = state.symbol
        signed = qty * state.side.sign
        held, entry = self._pos.get(symbol, (0.0, 0.0))
        realized = 0.0
        if held * signed < 0:  # reducing (and maybe flipping)
            closing = min(qty, abs(held))
            realized = closing * (price - entry) * (1.0 if held > 0 else -1.0)
        new_qty = round(held + signed, self._qty_dec[symbol])
        if new_qty == 0:
            self._pos.pop(symbol, None)
        elif held * signed >= 0:
            self._pos[symbol] = [new_qty, (abs(held) * entry + qty * price) / abs(new_qty)]
        else:
            self._pos[symbol] = [new_qty, entry if new_qty * held > 0 else price]
        # Binance reports money to 8 decimals; rounding here keeps float dust out of PnL and the wallet.
        fee = round(qty * price * fee_rate, 8)
        realized = round(realized, 8)
        self.wallet = round(self.wallet + realized - fee, 8)
        self.realized_pnl = round(self.realized_pnl + realized, 8)
        self.fees = round(self.fees + fee, 8)
        filled = replace(
            state,
            status=OrderStatus.FILLED,
            filled_qty=qty,
            avg_price=price,
            last_qty=qty,
            last_price=price,
            fee=fee,
            realized_pnl=realized,
            ts_ms=ts,
        )
        self._record(filled)
        self._emit(filled)
        self._emit(AccountUpdate((self.balance(),), (self.position(symbol),), "ORDER", ts))
        if new_qty == 0:
            self._expire_close_position(symbol, ts)
        return filled

    def _expire_close_position(self, symbol: str, ts: int) -> None:
        """Like Binance GTE_GTC: a flat position takes its untriggered close-position orders with it."""
        for resting in list(self._watch.get(symbol, ())):
            if resting.request.close_position and resting.key in self._open:
                self._unrest(resting)
                self._finish(resting.state, OrderStatus.EXPIRED, ts, "position closed")

    def _record(self, update: OrderUpdate) -> None:
        book = self._algos if update.is_conditional else self._orders
        key = (update.symbol, update.client_id)
        book[key] = update
        if self._finished_kept is not None and update.status.is_final:
            self._forget_finished(update.is_conditional, key)
        resting = self._open.get((update.symbol, update.client_id, update.is_conditional))
        if resting is not None:
            resting.state = update

    def _forget_finished(self, conditional: bool, key: tuple[str, str]) -> None:
        """Note a finished order; past the bound, drop the oldest finished one (unless its id was reused)."""
        finished = self._finished
        finished.append((conditional, key))
        while len(finished) > (self._finished_kept or 0):
            old_conditional, old_key = finished.popleft()
            book = self._algos if old_conditional else self._orders
            old = book.get(old_key)
            if old is not None and old.status.is_final:
                del book[old_key]

    def _emit(self, event: MatchingEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken receiver must not leave the account half-updated
                log.exception("sim event listener failed")

    # -- account ---------------------------------------------------------------------------------------

    def position(self, symbol: str) -> Position:
        """The position of `symbol` with its mark and unrealised PnL (qty 0 when flat)."""
        held, entry = self._pos.get(symbol, (0.0, 0.0))
        mark = self.mark_price(symbol) or entry
        return Position(symbol, held, entry, mark, (mark - entry) * held if held else 0.0)

    def positions(self) -> list[Position]:
        """Non-zero positions only."""
        return [self.position(s) for s in self._pos]

    def balance(self) -> Balance:
        """USDT wallet, unrealised PnL at mark, and what is left after the initial margin of the positions."""
        upnl = margin = 0.0
        for symbol, (held, entry) in self._pos.items():
            mark = self.mark_price(symbol) or entry
            upnl += (mark - entry) * held
            margin += abs(held) * mark / self.leverage
        return Balance("USDT", self.wallet, max(0.0, self.wallet + upnl - margin), upnl)

    def inject_position(self, symbol: str, qty: float, entry_price: float, notify: bool = False) -> None:
        """Set a position behind the engine's back (reconcile tests); `notify` emits an ADJUSTMENT update."""
        if symbol not in self.rules:
            raise ValueError(f"unknown symbol: {symbol}")
        qty = round(qty, self._qty_dec[symbol])
        if qty == 0:
            self._pos.pop(symbol, None)
        else:
            self._pos[symbol] = [qty, float(entry_price)]
        if notify:
            self._emit(
                AccountUpdate((self.balance(),), (self.position(symbol),), "ADJUSTMENT", self.clock.now_ms())
            )

    # -- saving ----------------------------------------------------------------------------------------

    def account_state(self) -> AccountState:
        """Everything of the account a restart needs (the listeners and prices are not the account's)."""
        finished: list[OrderUpdate] = []
        for book in (self._orders, self._algos):
            done = [u for u in book.values() if u.status.is_final]
            finished += sorted(done, key=lambda u: u.ts_ms)[-FINISHED_KEPT:]
        return AccountState(
            wallet=self.wallet,
            realized_pnl=self.realized_pnl,
            fees=self.fees,
            order_seq=self._ids,
            positions={s: (qty, entry) for s, (qty, entry) in self._pos.items()},
            resting=[RestingOrder(r.request, r.state) for r in self._open.values()],
            finished=finished,
        )

    def restore_account(self, state: AccountState) -> None:
        """Replace the account with `state` (no events). ValueError for a symbol without rules."""
        symbols = {
            *state.positions,
            *(r.request.symbol for r in state.resting),
            *(u.symbol for u in state.finished),
        }
        unknown = sorted(symbols - self.rules.keys())
        if unknown:
            raise ValueError(f"account holds unknown symbols: {', '.join(unknown)}")
        self.wallet = state.wallet
        self.realized_pnl = state.realized_pnl
        self.fees = state.fees
        self._ids = state.order_seq
        self._pos = {s: [qty, entry] for s, (qty, entry) in state.positions.items()}
        self._orders.clear()
        self._algos.clear()
        self._open.clear()
        self._watch.clear()
        for update in state.finished:
            self._record(update)
        for resting in state.resting:
            self._record(resting.state)
            self._rest(resting.request, resting.state)
