"""User data stream: listenKey lifecycle, event decoding, and algo-order bookkeeping.

The key is minted (POST) before every connect, kept alive (PUT) every 30 minutes, and replaced when
Binance says it expired (`listenKeyExpired` event, or -1125 on keepalive). After each reconnect the
connector resyncs orders and positions from REST (`on_reconnect`), since events of the gap may be lost.

Conditional orders live in Binance's Algo Service: a trigger spawns a child order in the matching engine
with its own order id (`ai`), and the child's ORDER_TRADE_UPDATE may arrive before the ALGO_UPDATE that
names it. `KnownOrders` links children to their conditional so fills are reported under the
conditional's client id, and drops repeats once an order reached its final state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import msgspec

from casino_tui.exchange.binance import codec, mapping
from casino_tui.exchange.binance.errors import INVALID_LISTEN_KEY
from casino_tui.exchange.binance.resilience import RetryPolicy
from casino_tui.exchange.binance.rest import (
    LISTEN_KEY_CLOSE,
    LISTEN_KEY_KEEPALIVE,
    LISTEN_KEY_NEW,
    BinanceRest,
)
from casino_tui.exchange.binance.signing import SecretFilter
from casino_tui.exchange.binance.streams import ROTATE_AFTER_S, SocketLoop
from casino_tui.model import OrderStatus, OrderUpdate
from casino_tui.port import ExchangeError, UserSink

log = logging.getLogger("casino.binance.user")

KEEPALIVE_S = 30 * 60
_LISTEN_KEY = codec.decoder(codec.ListenKey)
_FILL_STATUSES = (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)


class KnownOrders:
    """Live orders by client id (from acks and events), child→conditional links, and which orders have
    already been reported final to the sink (so late repeats are dropped)."""

    def __init__(self, remember_final: int = 2000) -> None:
        self.live: dict[str, OrderUpdate] = {}
        self._children: dict[str, str] = {}
        self._last: dict[str, tuple[OrderStatus, float]] = {}
        self._final: OrderedDict[str, OrderStatus] = OrderedDict()
        self._remember_final = remember_final

    def track(self, update: OrderUpdate) -> None:
        """Keep `live` current (acks, events, resyncs); final orders leave it."""
        if update.status.is_final:
            self.live.pop(update.client_id, None)
        elif update.client_id not in self._final:
            self.live[update.client_id] = update

    def is_news(self, update: OrderUpdate) -> bool:
        """Whether the sink should hear this: not a repeat of the last report, nothing after a reported final."""
        if update.client_id in self._final:
            return False
        key = (update.status, update.filled_qty)
        if self._last.get(update.client_id) == key:
            return False
        if update.status.is_final:
            self._last.pop(update.client_id, None)
            self._final[update.client_id] = update.status
            while len(self._final) > self._remember_final:
                self._final.popitem(last=False)
        else:
            self._last[update.client_id] = key
        return True

    def link_child(self, child_order_id: str, client_algo_id: str) -> None:
        self._children[child_order_id] = client_algo_id
        while len(self._children) > self._remember_final:
            del self._children[next(iter(self._children))]

    def parent_of(self, child: codec.OrderTradeFields) -> str | None:
        """Client algo id of the conditional this matching-engine order was spawned by, if we can tell."""
        caid = self._children.get(str(child.order_id))
        if caid is not None:
            return caid
        known = self.live.get(child.client_id)
        if (known is not None and known.is_conditional) or (
            child.client_id in self._final and child.orig_type in mapping.CONDITIONAL_WIRE_TYPES
        ):
            return child.client_id  # the child carries the conditional's client id
        if child.orig_type in mapping.CONDITIONAL_WIRE_TYPES:
            # Child before ALGO_UPDATE TRIGGERED: the only live conditional of that symbol, side and type.
            wanted = mapping.order_type(child.orig_type)
            matches = [
                u.client_id
                for u in self.live.values()
                if u.is_conditional and u.symbol == child.symbol and u.side == child.side and u.type is wanted
            ]
            if len(matches) == 1:
                self.link_child(str(child.order_id), matches[0])
                return matches[0]
        return None


class UserStream:
    """One /private socket keyed by a listenKey, events decoded and handed to the sink."""

    def __init__(
        self,
        rest: BinanceRest,
        ws_base: str,
        sink: UserSink,
        orders: KnownOrders,
        on_reconnect: Callable[[], None],
        on_status: Callable[[bool, str], None],
        backoff: RetryPolicy,
        secret_filter: SecretFilter,
        keepalive_s: float = KEEPALIVE_S,
        rotate_after_s: float = ROTATE_AFTER_S,
        use_proxy: bool = True,
    ) -> None:
        self._rest = rest
        self._ws_base = ws_base.rstrip("/")
        self._sink = sink
        self._orders = orders
        self._on_reconnect = on_reconnect
        self._on_status = on_status
        self._secret_filter = secret_filter
        self._keepalive_s = keepalive_s
        self.listen_key = ""
        self._fresh_key = False
        self.keys_minted = 0
        self.bad_frames = 0
        self._keepalive_task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.loop = SocketLoop(
            "user",
            self._mint_url,
            self._on_frame,
            self._on_open,
            self._on_down,
            backoff,
            silence_s=None,  # an idle account sends nothing; websockets' ping/pong detects dead sockets
            rotate_after_s=rotate_after_s,
            use_proxy=use_proxy,
            redact=secret_filter.scrub,
        )

    async def mint_key(self) -> str:
        """POST /fapi/v1/listenKey (returns the active key, extended, or a new one)."""
        body = await self._rest.call(LISTEN_KEY_NEW)
        key = _LISTEN_KEY.decode(body).listen_key
        self._rest.add_secret(key)
        self._secret_filter.add(key)
        self.listen_key = key
        self._fresh_key = True
        self.keys_minted += 1
        return key

    async def _mint_url(self) -> str:
        # POST before every connect: it returns the live key (extended) or a new one if ours expired.
        key = self.listen_key if self._fresh_key else await self.mint_key()
        self._fresh_key = False
        return f"{self._ws_base}/private/ws?listenKey={key}"

    def _on_open(self, first: bool) -> None:
        self._on_status(True, "connected" if first else "reconnected")
        self._keepalive_task = asyncio.create_task(self._keepalive(), name="listenkey-keepalive")
        if not first:
            self._on_reconnect()

    def _on_down(self, reason: str) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            self._keepalive_task = None
        self._on_status(False, reason)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_s)
            try:
                if not await self.keepalive_once():
                    return  # replaced: the next connect starts a new keepalive
            except ExchangeError as exc:
                log.warning("listenKey keepalive failed: %s", exc)

    async def keepalive_once(self) -> bool:
        """PUT /fapi/v1/listenKey (extends the key); False if Binance no longer knew it (-1125) and it is
        being replaced. Also the user-stream breaker's probe."""
        try:
            await self._rest.call(LISTEN_KEY_KEEPALIVE)
        except ExchangeError as exc:
            if exc.code != INVALID_LISTEN_KEY:
                raise
            await self._replace_key("listenKey unknown on keepalive (-1125)")
            return False
        return True

    async def _replace_key(self, reason: str) -> None:
        log.info("replacing listenKey: %s", reason)
        self._fresh_key = False  # the next connect mints a new one
        await self.loop.reconnect(reason)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # ---- events ---------------------------------------------------------------------------------
    def _on_frame(self, raw: bytes | str) -> None:
        try:
            kind = codec.EVENT_HEAD_DECODER.decode(raw).event
            if kind == "ORDER_TRADE_UPDATE":
                event = codec.ORDER_TRADE_DECODER.decode(raw)
                self._order_event(event.order, event.event_ms)
            elif kind == "ALGO_UPDATE":
                algo = codec.ALGO_UPDATE_DECODER.decode(raw)
                self._algo_event(algo.order, algo.event_ms)
            elif kind == "ACCOUNT_UPDATE":
                self._sink.on_account_update(
                    mapping.from_account_event(codec.ACCOUNT_UPDATE_DECODER.decode(raw))
                )
            elif kind == "listenKeyExpired":
                self._spawn(self._replace_key("listenKeyExpired event"))
        except (msgspec.DecodeError, ValueError) as exc:
            self.bad_frames += 1
            log.warning("undecodable user event (%d so far): %s", self.bad_frames, type(exc).__name__)

    def _order_event(self, o: codec.OrderTradeFields, event_ms: int) -> None:
        caid = self._orders.parent_of(o)
        if caid is not None:
            parent = self._orders.live.get(caid)
            if parent is None:
                return  # the conditional already reported its final state; this is a late repeat
            update = mapping.child_fill_update(o, parent, event_ms)
            if update.status not in _FILL_STATUSES:
                return  # the child's NEW/CANCELED: ALGO_UPDATE TRIGGERED/FINISHED say it for the conditional
        else:
            update = mapping.from_order_event(o, event_ms)
        self.deliver(update)

    def _algo_event(self, o: codec.AlgoFields, event_ms: int) -> None:
        child = str(o.actual_order_id)
        if child not in ("", "0"):
            self._orders.link_child(child, o.client_algo_id)
        update = mapping.from_algo_event(o, event_ms)
        self.deliver(update)

    def deliver(self, update: OrderUpdate) -> None:
        """Hand an update to the sink unless it repeats what was already reported; keep the books."""
        if not self._orders.is_news(update):
            return
        self._orders.track(update)
        self._sink.on_order_update(update)

    async def stop(self) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        for task in list(self._side_tasks):
            task.cancel()
        await self.loop.stop()
        if self.listen_key:
            try:
                await self._rest.call(LISTEN_KEY_CLOSE)
            except ExchangeError as exc:
                log.info("closing listenKey failed: %s", exc)
