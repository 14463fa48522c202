"""Order operations on Binance USD-M: plain orders on /fapi/v1/order, TP/SL on the Algo Service.

Since 2025-12-09 conditional types are refused by /fapi/v1/order (-4120) and live in the Algo Service
(/fapi/v1/algoOrder), with their own ids, endpoints and events (BINANCE.md §4). Prices and quantities go
out as exact decimal strings snapped to the symbol's filters. Cancels, queries and orders that only reduce
exposure bypass an open orders breaker: protecting a position must stay possible while entries are blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

from casino_tui.exchange.binance import codec, mapping
from casino_tui.exchange.binance import rest as ep
from casino_tui.exchange.binance.rest import BinanceRest, Params, decode_answer
from casino_tui.exchange.binance.userstream import KnownOrders
from casino_tui.model import OrderRequest, OrderStatus, OrderType, OrderUpdate, SymbolRules
from casino_tui.port import OrderNotFoundError, RejectedError

_ORDER = codec.decoder(codec.OrderAnswer)
_ALGO = codec.decoder(codec.AlgoOrderAnswer)
_ALGO_CANCEL = codec.decoder(codec.AlgoCancelAnswer)
_ORDERS = codec.decoder(list[codec.OrderAnswer])
_ALGOS = codec.decoder(list[codec.AlgoOrderAnswer])


class OrderGateway:
    """Place, cancel and query orders by client id; remembers live ones in `KnownOrders` for resyncs."""

    def __init__(
        self, rest: BinanceRest, known: KnownOrders, rules: Callable[[str], Awaitable[SymbolRules]]
    ) -> None:
        self._rest = rest
        self._known = known
        self._rules = rules

    async def place(self, request: OrderRequest) -> OrderUpdate:
        """MARKET/LIMIT to /fapi/v1/order, STOP_MARKET/TAKE_PROFIT_MARKET to the Algo Service.

        Never resent on an unknown outcome: UnknownOutcomeError goes to the caller, who looks the order up.
        """
        rules = await self._rules(request.symbol)
        protective = request.reduce_only or request.close_position
        if request.type.is_conditional:
            endpoint, params = ep.NEW_ALGO_ORDER, self._algo_params(request, rules)
        else:
            endpoint, params = ep.NEW_ORDER, self._order_params(request, rules)
        body = await self._rest.call(endpoint, params, bypass_breaker=protective)
        if request.type.is_conditional:
            update = mapping.from_algo_answer(decode_answer(_ALGO, body, endpoint))
        else:
            update = mapping.from_order_answer(decode_answer(_ORDER, body, endpoint))
        self._known.track(update)
        return update

    def _order_params(self, request: OrderRequest, rules: SymbolRules) -> Params:
        params: list[tuple[str, str | bool]] = [
            ("symbol", request.symbol),
            ("side", request.side.value),
            ("type", request.type.value),
            ("quantity", _quantity(request, rules)),
        ]
        if request.type is OrderType.LIMIT:
            if request.price is None:
                raise RejectedError(f"{request.client_id}: LIMIT order without a price")
            params += [("timeInForce", "GTC"), ("price", rules.format_price(request.price))]
        if request.reduce_only or request.close_position:
            params.append(("reduceOnly", True))
        params += [("newClientOrderId", request.client_id), ("newOrderRespType", "RESULT")]
        return params

    def _algo_params(self, request: OrderRequest, rules: SymbolRules) -> Params:
        if request.trigger_price is None:
            raise RejectedError(f"{request.client_id}: {request.type.value} without a trigger price")
        params: list[tuple[str, str | bool]] = [
            ("algoType", "CONDITIONAL"),
            ("symbol", request.symbol),
            ("side", request.side.value),
            ("type", request.type.value),
            ("triggerPrice", rules.format_price(request.trigger_price)),
            ("workingType", "MARK_PRICE"),
        ]
        if request.close_position:
            params.append(("closePosition", True))
        else:
            params.append(("quantity", _quantity(request, rules)))
            if request.reduce_only:
                params.append(("reduceOnly", True))
        params.append(("clientAlgoId", request.client_id))
        return params

    async def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        """Cancel by client id; OrderNotFoundError (-2011) when it is already closed or unknown."""
        if conditional:
            body = await self._rest.call(
                ep.CANCEL_ALGO_ORDER, [("clientAlgoId", client_id)], bypass_breaker=True
            )
            answer = decode_answer(_ALGO_CANCEL, body, ep.CANCEL_ALGO_ORDER)
            known = self._known.live.get(client_id)
            if known is not None:
                update = msgspec.structs.replace(
                    known, status=OrderStatus.CANCELED, ts_ms=self._rest.now_ms()
                )
            else:
                # Placed before a restart: read the cancelled order back for its side, type and quantity.
                found = await self.get(symbol, client_id, True)
                if found is None:
                    raise OrderNotFoundError(f"{client_id}: algo {answer.algo_id} cancelled but not readable")
                update = found
        else:
            params = [("symbol", symbol), ("origClientOrderId", client_id)]
            body = await self._rest.call(ep.CANCEL_ORDER, params, bypass_breaker=True)
            update = mapping.from_order_answer(decode_answer(_ORDER, body, ep.CANCEL_ORDER))
        self._known.track(update)
        return update

    async def get(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        """Current state by client id on the right endpoint; None when Binance does not know it (-2013)."""
        try:
            if not conditional:
                params = [("symbol", symbol), ("origClientOrderId", client_id)]
                body = await self._rest.call(ep.QUERY_ORDER, params, bypass_breaker=True)
                return mapping.from_order_answer(decode_answer(_ORDER, body, ep.QUERY_ORDER))
            body = await self._rest.call(
                ep.QUERY_ALGO_ORDER, [("clientAlgoId", client_id)], bypass_breaker=True
            )
            answer = decode_answer(_ALGO, body, ep.QUERY_ALGO_ORDER)
        except OrderNotFoundError:
            return None
        update = mapping.from_algo_answer(answer)
        child = str(answer.actual_order_id)
        if answer.status == "FINISHED" and child not in ("", "0"):
            update = await self._finished_conditional(update, symbol, child)
        return update

    async def _finished_conditional(self, update: OrderUpdate, symbol: str, child_id: str) -> OrderUpdate:
        """A FINISHED conditional filled iff its child order did: ask the matching engine."""
        params = [("symbol", symbol), ("orderId", child_id)]
        try:
            child = decode_answer(
                _ORDER, await self._rest.call(ep.QUERY_ORDER, params, bypass_breaker=True), ep.QUERY_ORDER
            )
        except OrderNotFoundError:
            return msgspec.structs.replace(
                update, status=OrderStatus.TRIGGERED, reason="finished; child not found"
            )
        filled = child.filled_qty > 0
        return msgspec.structs.replace(
            update,
            status=OrderStatus.FILLED if filled else OrderStatus.EXPIRED,
            filled_qty=child.filled_qty,
            avg_price=child.avg_price,
            reason=f"child {child.order_id}",
        )

    async def open(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Open plain orders and untriggered conditional orders (two requests, run together)."""
        params: Params = [("symbol", symbol)] if symbol else []
        weight = 1 if symbol else None
        plain_body, algo_body = await asyncio.gather(
            self._rest.call(ep.OPEN_ORDERS, params, weight=weight),
            self._rest.call(ep.OPEN_ALGO_ORDERS, params, weight=weight),
        )
        plain = [mapping.from_order_answer(a) for a in decode_answer(_ORDERS, plain_body, ep.OPEN_ORDERS)]
        algos = [mapping.from_algo_answer(a) for a in decode_answer(_ALGOS, algo_body, ep.OPEN_ALGO_ORDERS)]
        return plain + algos


def _quantity(request: OrderRequest, rules: SymbolRules) -> str:
    text = rules.format_qty(request.quantity)
    if float(text) <= 0:
        raise RejectedError(
            f"{request.client_id}: quantity {request.quantity} is below the step {rules.step_size}"
        )
    return text
