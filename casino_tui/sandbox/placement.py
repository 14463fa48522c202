"""Sending a new order to the sim the way Binance's gateway would: fault gates before and after, price checks.

Order of events for one order POST: throttle / service-unavailable faults (not placed), then the sim,
then the unknown-outcome fault (placed, but the reply says the outcome is unknown).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from casino_tui.model import OrderRequest
from casino_tui.port import ExchangeError
from casino_tui.sandbox import errors
from casino_tui.sandbox.endpoint import CLIENT_ID, Call
from casino_tui.sandbox.faults import OutcomeReply
from casino_tui.sandbox.ledger import AlgoRecord, OrderIntent, OrderRecord
from casino_tui.sandbox.numbers import decimals_of, decimals_sent
from casino_tui.sandbox.venue import Venue

PRECISION_MSG = "Precision is over the maximum defined for this asset."


class NewOrder(msgspec.Struct, frozen=True):
    """A validated order request, the details the ledger keeps for it, and the reply form asked for."""

    request: OrderRequest
    intent: OrderIntent
    response_type: str = "ACK"

    @property
    def reduces_exposure(self) -> bool:
        """One-way mode: reduce-only or close-position orders (exempt from -1008 throttling)."""
        return self.request.reduce_only or self.request.close_position


def client_id(call: Call, name: str) -> str:
    """The client's id for the order (-4015 if it breaks Binance's pattern), or a generated one."""
    value = call.params.get(name, "")
    if not value:
        return call.venue.ledger.new_client_id()
    if not CLIENT_ID.match(value):
        raise errors.ApiError(-4015, "Client order id is not valid.")
    return value


def check_price(call: Call, symbol: str, name: str, price: Decimal) -> float:
    """PRICE_FILTER on a price as sent: precision, tick multiple, minimum."""
    rules = call.venue.rules[symbol]
    if price <= 0:
        raise errors.illegal_param(name)
    if decimals_sent(price) > decimals_of(rules.tick_size):
        raise errors.ApiError(-1111, PRECISION_MSG)
    min_price = Decimal(rules.min_price)
    if min_price and price < min_price:
        raise errors.ApiError(-4013, "Price less than min price.")
    if (price - min_price) % Decimal(rules.tick_size):
        raise errors.ApiError(-4014, "Price not increased by tick size.")
    return float(price)


def check_qty(call: Call, symbol: str, qty: Decimal) -> float:
    """Quantity precision as sent; the sim checks the LOT_SIZE limits with Binance's codes."""
    rules = call.venue.rules[symbol]
    if qty <= 0:
        raise errors.ApiError(-4003, "Quantity less than or equal to zero.")
    if decimals_sent(qty) > decimals_of(rules.step_size):
        raise errors.ApiError(-1111, PRECISION_MSG)
    return float(qty)


def gate_before(venue: Venue, orders: list[NewOrder], throttled_endpoint: bool) -> None:
    """Faults that refuse the request before anything is placed."""
    if throttled_endpoint and venue.faults.take_throttle(all(o.reduces_exposure for o in orders)):
        raise errors.ApiError(-1008, errors.THROTTLED_MSG, status=503)
    if venue.faults.take_service_unavailable():
        raise errors.ApiError(-1001, errors.SERVICE_UNAVAILABLE_503, status=503)


def gate_after(venue: Venue) -> None:
    """The unknown-outcome fault: the order went through, but the client is told the outcome is unknown."""
    reply = venue.faults.take_unknown_outcome()
    if reply is OutcomeReply.HTTP_503:
        raise errors.ApiError(-1000, errors.UNKNOWN_ERROR_503, status=503)
    if reply is OutcomeReply.TIMEOUT_1007:
        raise errors.ApiError(-1007, errors.TIMEOUT_MSG, status=408)


async def submit(venue: Venue, order: NewOrder) -> OrderRecord | AlgoRecord:
    """Place one order in the sim; the ledger learns the details first (the sim's events may come at once)."""
    venue.ledger.expect(order.intent)
    try:
        ack = await venue.sim.place_order(order.request)
    except ExchangeError as exc:
        venue.ledger.forget(order.intent)
        raise errors.from_exchange(exc) from None
    return venue.ledger.placed_ack(ack)
