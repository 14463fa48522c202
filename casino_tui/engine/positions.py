"""PositionTracker: one-way-mode positions built from fills, corrected by account updates, valued at marks."""

from __future__ import annotations

from collections import OrderedDict

from casino_tui.model import AccountUpdate, OrderUpdate, Position

_EPS = 1e-12
_SEEN_LIMIT = 4096  # client ids remembered for de-duplicating fills (REST ack + stream report the same fill)


class PositionTracker:
    """Positions, marks, realised PnL and fees for the session.

    Fills arrive twice (REST acknowledgement and user stream) and out of order, so each order's cumulative
    filled quantity is remembered and only the increase is applied. ACCOUNT_UPDATE positions are the
    exchange's truth and overwrite the local quantity and entry price.
    """

    def __init__(self) -> None:
        self._qty: dict[str, float] = {}
        self._entry: dict[str, float] = {}
        self._marks: dict[str, float] = {}
        self._filled: OrderedDict[str, tuple[float, float]] = (
            OrderedDict()
        )  # client id -> (cum qty, notional)
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.trades = 0
        self.wallet: float | None = None

    def on_fill(self, update: OrderUpdate) -> float:
        """Apply the part of `update` not seen before; return the newly filled quantity (0 for a duplicate)."""
        seen_qty, seen_notional = self._filled.get(update.client_id, (0.0, 0.0))
        delta = update.filled_qty - seen_qty
        if delta <= _EPS * max(1.0, update.filled_qty):
            return 0.0
        price = update.avg_price or update.last_price
        notional = price * update.filled_qty
        # The price of just this increment, from the change in cumulative notional.
        fill_price = (notional - seen_notional) / delta if seen_qty > 0 else price
        self._filled[update.client_id] = (update.filled_qty, notional)
        self._filled.move_to_end(update.client_id)
        while len(self._filled) > _SEEN_LIMIT:
            self._filled.popitem(last=False)
        self.fees += update.fee
        self.trades += 1
        self._apply(update.symbol, delta * update.side.sign, fill_price)
        return delta

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
