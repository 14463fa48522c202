"""PositionTracker: one-way-mode positions built from fills, corrected by account updates, valued at marks."""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from casino_tui.model import AccountUpdate, OrderUpdate, Position

_EPS = 1e-12
_SEEN_LIMIT = 4096  # orders remembered for de-duplicating fills (REST ack + stream report the same fill)


class AppliedFill(msgspec.Struct, frozen=True):
    """What one order update added: the newly filled quantity and the fee not counted before."""

    qty: float
    fee: float


_NOTHING = AppliedFill(0.0, 0.0)


class _OrderFills:
    """One order's fills as counted so far: cumulative quantity and notional, and the fee per fill level."""

    __slots__ = ("fees", "notional", "qty")

    def __init__(self) -> None:
        self.qty = 0.0
        self.notional = 0.0
        # Cumulative filled quantity after a fill -> fee counted for that fill. Every report of one fill
        # carries the same cumulative quantity, so it names the fill whichever report arrives first.
        self.fees: dict[float, float] = {}


class PositionTracker:
    """Positions, marks, realised PnL and fees for the session.

    Fills arrive twice (REST acknowledgement and user stream) and out of order, so each order's cumulative
    filled quantity is remembered and only the increase is applied. The fee is counted once per fill, from
    whichever report carries it (Binance's REST answer has none, the user-stream event does; the simulator
    puts it on both). ACCOUNT_UPDATE positions are the exchange's truth and overwrite the local quantity and
    entry price.
    """

    def __init__(self) -> None:
        self._qty: dict[str, float] = {}
        self._entry: dict[str, float] = {}
        self._marks: dict[str, float] = {}
        self._orders: OrderedDict[str, _OrderFills] = OrderedDict()  # client id -> fills counted
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.trades = 0
        self.wallet: float | None = None

    def on_fill(self, update: OrderUpdate) -> float:
        """Apply the part of `update` not seen before; return the newly filled quantity (0 for a duplicate)."""
        return self.apply_fill(update).qty

    def apply_fill(self, update: OrderUpdate) -> AppliedFill:
        """Apply the quantity and the fee of `update` that were not counted before, and say what they were."""
        if update.filled_qty <= 0.0:
            return _NOTHING
        seen = self._orders.get(update.client_id)
        if seen is None:
            seen = self._orders[update.client_id] = _OrderFills()
            while len(self._orders) > _SEEN_LIMIT:
                self._orders.popitem(last=False)
        else:
            self._orders.move_to_end(update.client_id)
        fee = 0.0
        if update.fee:
            counted = seen.fees.get(update.filled_qty, 0.0)
            if abs(update.fee) > abs(counted):
                # A report with the fee after one without it (or with less): count only the difference.
                fee = update.fee - counted
                seen.fees[update.filled_qty] = update.fee
                self.fees += fee
        delta = update.filled_qty - seen.qty
        if delta <= _EPS * max(1.0, update.filled_qty):
            return AppliedFill(0.0, fee) if fee else _NOTHING
        price = update.avg_price or update.last_price
        notional = price * update.filled_qty
        # The price of just this increment, from the change in cumulative notional.
        fill_price = (notional - seen.notional) / delta if seen.qty > 0 else price
        seen.qty, seen.notional = update.filled_qty, notional
        self.trades += 1
        self._apply(update.symbol, delta * update.side.sign, fill_price)
        return AppliedFill(delta, fee)

    def on_account_update(self, update: AccountUpdate) -> None:
        for pos in update.positions:
            if abs(pos.qty) <= _EPS:
                self._qty.pop(pos.symbol, None)
                self._entry.pop(pos.symbol, None)
            else:
                self._qty[pos.symbol] = pos.qty
                self._entry[pos.symbol] = pos.entry_price
            if pos.mark_price > 0:
                self._marks[pos.symbol] = pos.mark_price
        for bal in update.balances:
            if bal.asset == "USDT":
                self.wallet = bal.wallet

    def on_mark(self, symbol: str, price: float) -> None:
        self._marks[symbol] = price

    def mark(self, symbol: str) -> float:
        return self._marks.get(symbol, 0.0)

    def qty(self, symbol: str) -> float:
        """Signed position quantity (0 when flat)."""
        return self._qty.get(symbol, 0.0)

    def has_position(self, symbol: str) -> bool:
        return symbol in self._qty

    def position(self, symbol: str) -> Position | None:
        qty = self._qty.get(symbol)
        if qty is None:
            return None
        entry = self._entry[symbol]
        mark = self._marks.get(symbol, entry)
        return Position(symbol, qty, entry, mark, qty * (mark - entry))

    def positions(self) -> tuple[Position, ...]:
        out = []
        for symbol in self._qty:
            pos = self.position(symbol)
            if pos is not None:
                out.append(pos)
        return tuple(out)

    def unrealized_pnl(self, symbol: str | None = None) -> float:
        symbols = (symbol,) if symbol is not None else tuple(self._qty)
        total = 0.0
        for sym in symbols:
            qty = self._qty.get(sym)
            if qty is not None:
                total += qty * (self._marks.get(sym, self._entry[sym]) - self._entry[sym])
        return total

    def equity(self, balance: float | None = None) -> float:
        """Wallet balance (given, or the last one reported) plus unrealised PnL."""
        wallet = balance if balance is not None else (self.wallet or 0.0)
        return wallet + self.unrealized_pnl()

    def _apply(self, symbol: str, signed_qty: float, price: float) -> None:
        """Net a fill into the one-way position: extend (average the entry), reduce (realise), or flip."""
        q0 = self._qty.get(symbol, 0.0)
        e0 = self._entry.get(symbol, 0.0)
        if q0 == 0.0 or (q0 > 0) == (signed_qty > 0):
            q1 = q0 + signed_qty
            self._qty[symbol] = q1
            self._entry[symbol] = (abs(q0) * e0 + abs(signed_qty) * price) / abs(q1)
            return
        closing = min(abs(signed_qty), abs(q0))
        self.realized_pnl += closing * (price - e0) * (1.0 if q0 > 0 else -1.0)
        q1 = q0 + signed_qty
        if abs(q1) <= _EPS * max(1.0, abs(q0)):
            self._qty.pop(symbol, None)
            self._entry.pop(symbol, None)
        elif (q1 > 0) == (q0 > 0):
            self._qty[symbol] = q1
        else:
            self._qty[symbol] = q1
            self._entry[symbol] = price
