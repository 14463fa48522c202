"""The user data stream: the sim's order and account updates as Binance events, to every live listenKey socket.

Registered with the sim as its UserSink. A conditional order's life is told the Algo Service way:
ALGO_UPDATE NEW, then on trigger ALGO_UPDATE TRIGGERED (with the child orderId in `ai`) and the child's
ORDER_TRADE_UPDATE NEW, then the child's TRADE (or EXPIRED) and ALGO_UPDATE FINISHED.
"""

from __future__ import annotations

import collections

import msgspec

from casino_tui.model import AccountUpdate, OrderUpdate
from casino_tui.sandbox.connection import Connection
from casino_tui.sandbox.events import (
    AccountBody,
    AccountUpdateEvent,
    AlgoUpdateEvent,
    BalanceEntry,
    ListenKeyExpiredEvent,
    OrderBody,
    OrderTradeUpdateEvent,
    PositionEntry,
    UserEvent,
)
from casino_tui.sandbox.faults import Faults
from casino_tui.sandbox.ledger import Change, Ledger
from casino_tui.sandbox.listenkeys import ListenKeys
from casino_tui.sandbox.numbers import SymbolFormat, money
from casino_tui.sandbox.render import algo_body, order_body


class UserFeed:
    """Encodes user events once and pushes them to the sockets of active listenKeys."""

    def __init__(
        self,
        ledger: Ledger,
        listen_keys: ListenKeys,
        formats: dict[str, SymbolFormat],
        faults: Faults,
        margin_type: dict[str, str],
    ) -> None:
        self.ledger = ledger
        self.listen_keys = listen_keys
        self.formats = formats
        self._faults = faults
        self._margin_type = margin_type
        self._enc = msgspec.json.Encoder()
        self._connections: set[Connection] = set()
        self.sent: collections.Counter[str] = collections.Counter()  # event types published (admin state)

    def attach(self, conn: Connection) -> None:
        self._connections.add(conn)

    def detach(self, conn: Connection) -> None:
        self._connections.discard(conn)

    # -- UserSink --------------------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        seen = self.ledger.observe(update)
        fmt = self.formats[update.symbol]
        ts = update.ts_ms
        events: list[UserEvent] = []
        if seen.change is Change.ORDER and seen.order is not None:
            events.append(self._order_event(ts, order_body(seen.order, fmt, seen.fill)))
        elif seen.change is Change.ALGO and seen.algo is not None:
            events.append(
                AlgoUpdateEvent(transaction_time=ts, event_time=ts, order=algo_body(seen.algo, fmt))
            )
        elif seen.change is Change.TRIGGERED and seen.algo is not None and seen.order is not None:
            events.append(
                AlgoUpdateEvent(transaction_time=ts, event_time=ts, order=algo_body(seen.algo, fmt))
            )
            events.append(self._order_event(ts, order_body(seen.order, fmt, None)))
        elif seen.change is Change.CHILD_DONE and seen.algo is not None and seen.order is not None:
            events.append(self._order_event(ts, order_body(seen.order, fmt, seen.fill)))
            events.append(
                AlgoUpdateEvent(transaction_time=ts, event_time=ts, order=algo_body(seen.algo, fmt))
            )
        for event in events:
            self.publish(event)

    def on_account_update(self, update: AccountUpdate) -> None:
        balances = [
            BalanceEntry(
                asset=b.asset,
                wallet_balance=money(b.wallet),
                cross_wallet_balance=money(b.wallet),
                balance_change="0",
            )
            for b in update.balances
        ]
        positions = []
        for p in update.positions:
            fmt = self.formats.get(p.symbol)
            positions.append(
                PositionEntry(
                    symbol=p.symbol,
                    position_amt=fmt.qty(p.qty) if fmt else str(p.qty),
                    entry_price=money(p.entry_price) if p.qty else "0",
                    breakeven_price=money(p.entry_price) if p.qty else "0",
                    accumulated_realized="0",
                    unrealized_pnl=money(p.unrealized_pnl),
                    margin_type=self._margin_type.get(p.symbol, "cross"),
                )
            )
        body = AccountBody(reason=update.reason, balances=balances, positions=positions)
        self.publish(AccountUpdateEvent(event_time=update.ts_ms, transaction_time=update.ts_ms, account=body))

    # -- fan-out ---------------------------------------------------------------------------------------

    def publish(self, event: UserEvent) -> None:
        """Send one event to every socket whose listenKey is still valid."""
        self.sent[event.event_type] += 1
        if self._faults.silent_sockets or not self._connections:
            return
        frame = self._enc.encode(event).decode()
        for conn in self._connections:
            for key in conn.listen_keys:
                if self.listen_keys.is_active(key):
                    conn.push(self._wrap(conn, key, frame))

    def expire(self, keys: list[str], now_ms: int) -> None:
        """Tell the sockets of `keys` their key expired; they stay open but get nothing more."""
        for key in keys:
            frame = self._enc.encode(ListenKeyExpiredEvent(event_time=now_ms, listen_key=key)).decode()
            for conn in self._connections:
                if key in conn.listen_keys:
                    conn.push(self._wrap(conn, key, frame))

    def close_key(self, key: str) -> None:
        """DELETE listenKey closes its streams."""
        for conn in list(self._connections):
            if key in conn.listen_keys:
                conn.request_close(1000, "listenKey closed")

    @staticmethod
    def _wrap(conn: Connection, key: str, frame: str) -> str:
        # On a combined private stream the `stream` field is the listenKey.
        return f'{{"stream":"{key}","data":{frame}}}' if conn.combined else frame

    @staticmethod
    def _order_event(ts: int, body: OrderBody) -> OrderTradeUpdateEvent:
        return OrderTradeUpdateEvent(event_time=ts, transaction_time=ts, order=body)
