"""The sandbox's record of orders as Binance identifies them: integer orderIds, algoIds, child orders, fills.

The sim keys orders by client id and knows nothing of Binance's Algo Service, so the ledger adds what a
Binance client sees: the request details the sim does not keep (price, timeInForce, workingType), the child
MARKET order a triggered conditional order becomes (its own orderId, reported as `ai` in ALGO_UPDATE), the
lifecycle NEW → TRIGGERED → FINISHED, trade ids, and per-client-id counts the tests use to spot duplicates.
"""

from __future__ import annotations

import collections
import enum
import itertools

import msgspec
from msgspec.structs import replace

from casino_tui.model import OrderStatus, OrderType, OrderUpdate, Side

CHILD_ORDER_ID_START = 9_000_000_000


class AlgoStatus(enum.StrEnum):
    NEW = "NEW"
    CANCELED = "CANCELED"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class OrderIntent(msgspec.Struct, frozen=True, kw_only=True):
    """Request details the sim does not keep, registered just before the order is sent to it."""

    symbol: str
    client_id: str
    conditional: bool
    time_in_force: str = "GTC"
    price: float = 0.0
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False


class OrderRecord(msgspec.Struct, kw_only=True):
    """A plain order (or the child of a triggered conditional order) as Binance reports it."""

    order_id: int
    client_id: str
    symbol: str
    side: Side
    order_type: str
    orig_type: str
    time_in_force: str
    orig_qty: float
    price: float
    status: OrderStatus
    create_ms: int
    update_ms: int
    stop_price: float = 0.0
    reduce_only: bool = False
    close_position: bool = False
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    executed_qty: float = 0.0
    avg_price: float = 0.0
    algo_id: int = 0
    # Set when the order rested in the book: its later fill is a maker fill.
    rested: bool = False

    @property
    def cum_quote(self) -> float:
        return self.executed_qty * self.avg_price


class AlgoRecord(msgspec.Struct, kw_only=True):
    """A conditional order of the Algo Service."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: float
    trigger_price: float
    status: AlgoStatus
    create_ms: int
    update_ms: int
    price: float = 0.0
    time_in_force: str = "GTC"
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    close_position: bool = False
    reduce_only: bool = False
    trigger_ms: int = 0
    child_order_id: int = 0
    child_avg_price: float = 0.0
    child_qty: float = 0.0
    reason: str = ""


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution, for /fapi/v1/userTrades and the stream's trade id."""

    trade_id: int
    order_id: int
    symbol: str
    side: Side
    price: float
    qty: float
    realized_pnl: float
    commission: float
    is_maker: bool
    ts_ms: int


class Change(enum.Enum):
    """What an observed sim update means on the Binance side (drives which user events are sent)."""

    ORDER = "order"  # a plain order changed
    ALGO = "algo"  # a conditional order changed before triggering (NEW, CANCELED, EXPIRED, REJECTED)
    TRIGGERED = "triggered"  # the conditional order fired: ALGO_UPDATE TRIGGERED + the child's NEW
    CHILD_DONE = "child_done"  # the child ended: its ORDER_TRADE_UPDATE + ALGO_UPDATE FINISHED


class Observation(msgspec.Struct, frozen=True):
    change: Change
    update: OrderUpdate
    order: OrderRecord | None = None
    algo: AlgoRecord | None = None
    fill: Fill | None = None


def _progress(status: OrderStatus) -> int:
    return 2 if status.is_final else 1 if status is OrderStatus.PARTIALLY_FILLED else 0


def _binance_status(record: OrderRecord, update: OrderUpdate) -> OrderStatus:
    # A triggered child the matching engine refused ends EXPIRED on Binance's side.
    return OrderStatus.EXPIRED if update.status is OrderStatus.REJECTED and record.algo_id else update.status


def _as_reported(record: OrderRecord, update: OrderUpdate) -> OrderRecord:
    """A copy of `record` in the state `update` reports."""
    return replace(
        record,
        status=_binance_status(record, update),
        orig_qty=update.quantity or record.orig_qty,
        executed_qty=update.filled_qty,
        avg_price=update.avg_price,
        update_ms=update.ts_ms,
    )


def _numeric_id(text: str, fallback: int) -> int:
    return int(text) if text.isdigit() else fallback


class Ledger:
    """Binance identities and history for every order the sim reports."""

    def __init__(self) -> None:
        self._intents: dict[tuple[str, str, bool], OrderIntent] = {}
        self._orders: dict[int, OrderRecord] = {}
        self._orders_by_client: dict[tuple[str, str], OrderRecord] = {}
        self._algos: dict[int, AlgoRecord] = {}
        self._algos_by_client: dict[str, AlgoRecord] = {}
        self._sim_ids: dict[str, int] = {}
        self._fallback_ids = itertools.count(7_000_000_000)
        self._child_ids = itertools.count(CHILD_ORDER_ID_START)
        self._trade_ids = itertools.count(1)
        self._client_ids = itertools.count(1)
        self.fills: list[Fill] = []
        self.received: collections.Counter[str] = collections.Counter()
        self.placed: collections.Counter[str] = collections.Counter()

    def count_received(self, client_id: str) -> None:
        """Count an order POST by the client id it carries (admin state: tests look for duplicates)."""
        if client_id:
            self.received[client_id] += 1

    def new_client_id(self) -> str:
        """An id for an order sent without one (Binance generates one too)."""
        return f"sandbox_{next(self._client_ids):012d}"

    # -- before and after a placement ------------------------------------------------------------------

    def expect(self, intent: OrderIntent) -> None:
        self._intents[(intent.symbol, intent.client_id, intent.conditional)] = intent

    def forget(self, intent: OrderIntent) -> None:
        self._intents.pop((intent.symbol, intent.client_id, intent.conditional), None)

    def placed_ack(self, ack: OrderUpdate) -> OrderRecord | AlgoRecord:
        """Record the sim's answer to a placement (its stream events may come before or after it)."""
        self.placed[ack.client_id] += 1
        record = self.sync(ack)
        if isinstance(record, OrderRecord) and ack.status is OrderStatus.NEW:
            record.rested = True
        return record

    def sync(self, update: OrderUpdate) -> OrderRecord | AlgoRecord:
        """Bring a record up to a state the sim reported in a REST answer (no events, no fills recorded)."""
        if update.is_conditional:
            algo = self._algo_for(update)
            if update.status is OrderStatus.CANCELED and algo.status is AlgoStatus.NEW:
                algo.status = AlgoStatus.CANCELED
                algo.update_ms = update.ts_ms
            return algo
        record = self._order_for(update)
        if update.ts_ms >= record.update_ms:
            self._set_state(record, update)
        return record

    # -- lookups ---------------------------------------------------------------------------------------

    def order(self, order_id: int) -> OrderRecord | None:
        return self._orders.get(order_id)

    def order_by_client(self, symbol: str, client_id: str) -> OrderRecord | None:
        return self._orders_by_client.get((symbol, client_id))

    def algo(self, algo_id: int) -> AlgoRecord | None:
        return self._algos.get(algo_id)

    def algo_by_client(self, client_algo_id: str) -> AlgoRecord | None:
        return self._algos_by_client.get(client_algo_id)

    def orders_of(self, symbol: str) -> list[OrderRecord]:
        """Every order of `symbol` the ledger has seen (children of triggered algo orders too), by orderId."""
        return sorted((r for r in self._orders.values() if r.symbol == symbol), key=lambda r: r.order_id)

    def algos_of(self, symbol: str) -> list[AlgoRecord]:
        """Every conditional order of `symbol`, by algoId."""
        return sorted((r for r in self._algos.values() if r.symbol == symbol), key=lambda r: r.algo_id)

    # -- events ----------------------------------------------------------------------------------------

    def observe(self, update: OrderUpdate) -> Observation:
        """Apply a sim order update; says what changed so the user stream can send Binance's events.

        The order in the observation is the record as of this update (REST answers may already have moved
        the record on: the events must still tell each step as it happened).
        """
        if not update.is_conditional:
            record = self._order_for(update)
            fill = self._apply(record, update)
            return Observation(Change.ORDER, update, order=_as_reported(record, update), fill=fill)
        algo = self._algo_for(update)
        algo.update_ms = update.ts_ms
        if update.status is OrderStatus.TRIGGERED:
            algo.status = AlgoStatus.TRIGGERED
            algo.trigger_ms = update.ts_ms
            child = self._child_of(algo, update)
            return Observation(Change.TRIGGERED, update, order=replace(child), algo=replace(algo))
        if algo.child_order_id:
            # After the trigger, the sim reports the child's outcome on the conditional order itself.
            child = self._orders[algo.child_order_id]
            fill = self._apply(child, update)
            # The matching engine refusing the child (margin) rejects the algo order; anything else finishes it.
            rejected = update.status is OrderStatus.REJECTED
            algo.status = AlgoStatus.REJECTED if rejected else AlgoStatus.FINISHED
            algo.child_avg_price = child.avg_price
            algo.child_qty = child.executed_qty
            algo.reason = update.reason
            reported = _as_reported(child, update)
            return Observation(Change.CHILD_DONE, update, order=reported, algo=replace(algo), fill=fill)
        algo.status = {
            OrderStatus.CANCELED: AlgoStatus.CANCELED,
            OrderStatus.EXPIRED: AlgoStatus.EXPIRED,
            OrderStatus.REJECTED: AlgoStatus.REJECTED,
        }.get(update.status, AlgoStatus.NEW)
        algo.reason = update.reason
        return Observation(Change.ALGO, update, algo=replace(algo))

    # -- internals -------------------------------------------------------------------------------------

    def _order_for(self, update: OrderUpdate) -> OrderRecord:
        order_id = self._sim_id(update.order_id)
        record = self._orders.get(order_id)
        if record is None:
            intent = self._intents.pop((update.symbol, update.client_id, False), None) or OrderIntent(
                symbol=update.symbol, client_id=update.client_id, conditional=False
            )
            record = OrderRecord(
                order_id=order_id,
                client_id=update.client_id,
                symbol=update.symbol,
                side=update.side,
                order_type=update.type.value,
                orig_type=update.type.value,
                time_in_force=intent.time_in_force,
                orig_qty=update.quantity,
                price=intent.price,
                status=update.status,
                create_ms=update.ts_ms,
                update_ms=update.ts_ms,
                reduce_only=update.reduce_only,
                working_type=intent.working_type,
                price_protect=intent.price_protect,
            )
            self._orders[order_id] = record
            self._orders_by_client[(update.symbol, update.client_id)] = record
        return record

    def _algo_for(self, update: OrderUpdate) -> AlgoRecord:
        algo_id = self._sim_id(update.order_id)
        record = self._algos.get(algo_id)
        if record is None:
            intent = self._intents.pop((update.symbol, update.client_id, True), None) or OrderIntent(
                symbol=update.symbol, client_id=update.client_id, conditional=True
            )
            record = AlgoRecord(
                algo_id=algo_id,
                client_algo_id=update.client_id,
                symbol=update.symbol,
                side=update.side,
                order_type=update.type,
                quantity=update.quantity,
                trigger_price=update.trigger_price or 0.0,
                status=AlgoStatus.NEW,
                create_ms=update.ts_ms,
                update_ms=update.ts_ms,
                price=intent.price,
                time_in_force=intent.time_in_force,
                working_type=intent.working_type,
                price_protect=intent.price_protect,
                close_position=update.close_position,
                reduce_only=update.reduce_only,
            )
            self._algos[algo_id] = record
            self._algos_by_client[update.client_id] = record
        return record

    def _child_of(self, algo: AlgoRecord, update: OrderUpdate) -> OrderRecord:
        """The MARKET order the matching engine receives when `algo` triggers (clientOrderId = clientAlgoId)."""
        if algo.child_order_id:
            return self._orders[algo.child_order_id]
        child = OrderRecord(
            order_id=next(self._child_ids),
            client_id=algo.client_algo_id,
            symbol=algo.symbol,
            side=algo.side,
            order_type=OrderType.MARKET.value,
            orig_type=algo.order_type.value,
            time_in_force=algo.time_in_force,
            orig_qty=update.quantity,
            price=0.0,
            status=OrderStatus.NEW,
            create_ms=update.ts_ms,
            update_ms=update.ts_ms,
            stop_price=algo.trigger_price,
            reduce_only=algo.reduce_only,
            close_position=algo.close_position,
            working_type=algo.working_type,
            price_protect=algo.price_protect,
            algo_id=algo.algo_id,
        )
        algo.child_order_id = child.order_id
        self._orders[child.order_id] = child
        self._orders_by_client[(child.symbol, child.client_id)] = child
        return child

    @staticmethod
    def _set_state(record: OrderRecord, update: OrderUpdate) -> None:
        status = _binance_status(record, update)
        if _progress(status) < _progress(record.status):
            return  # a late report of an earlier step (the REST answer got here first)
        record.status = status
        record.update_ms = max(record.update_ms, update.ts_ms)
        if update.quantity:
            record.orig_qty = update.quantity
        if update.filled_qty:
            record.executed_qty = update.filled_qty
            record.avg_price = update.avg_price

    def _apply(self, record: OrderRecord, update: OrderUpdate) -> Fill | None:
        """Apply a stream update; returns the fill it reports, if any."""
        self._set_state(record, update)
        if update.last_qty <= 0:
            return None
        fill = Fill(
            trade_id=next(self._trade_ids),
            order_id=record.order_id,
            symbol=record.symbol,
            side=record.side,
            price=update.last_price,
            qty=update.last_qty,
            realized_pnl=update.realized_pnl,
            commission=update.fee,
            is_maker=record.rested and record.order_type == OrderType.LIMIT.value,
            ts_ms=update.ts_ms,
        )
        self.fills.append(fill)
        return fill

    def _sim_id(self, sim_order_id: str) -> int:
        known = self._sim_ids.get(sim_order_id)
        if known is None:
            known = self._sim_ids[sim_order_id] = _numeric_id(sim_order_id, next(self._fallback_ids))
        return known
