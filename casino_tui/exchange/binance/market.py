"""Market data over as many /market connections as the symbols need (sharding.py), each healing on its own.

A `MarketShard` is one combined-stream connection carrying whole symbols: after every connect it
SUBSCRIBEs its streams in paced batches, frames are decoded straight to the sink, and its losses and
returns are reported under its own stream name ("market", or "market-1" … "market-N"), so a lost
connection degrades only its symbols. `MarketStreams` holds the shards and answers for all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from websockets.exceptions import ConnectionClosed

from casino_tui.exchange.binance.resilience import RetryPolicy
from casino_tui.exchange.binance.sharding import (
    MAX_STREAMS_PER_CONNECTION,
    STREAMS_PER_SUBSCRIBE,
    SUBSCRIBES_PER_S,
    ShardPlan,
    plan_shards,
)
from casino_tui.exchange.binance.streams import ROTATE_AFTER_S, SocketLoop
from casino_tui.exchange.decode import DecodeError, MarkPrice, decode_frame
from casino_tui.model import Trade
from casino_tui.port import ExchangeError, MarketSink, StreamConnection

log = logging.getLogger("casino.binance.streams")

# Shards rotate before Binance's 24-hour cut at staggered times, spread over this share of the lifetime,
# so that the whole market never reconnects at once.
ROTATION_SPREAD = 0.05


class _ReplyError(msgspec.Struct):
    code: int = 0
    msg: str = ""


class _Reply(msgspec.Struct):
    """`{"result":null,"id":1}` or `{"error":{"code":2,"msg":"..."},"id":1}`."""

    id: Any = None
    error: _ReplyError | None = None


_decode_reply = msgspec.json.Decoder(_Reply).decode
_encode = msgspec.json.Encoder().encode


class MarketShard:
    """One /market connection for the symbols of `plan`; keeps their last trade and mark prices.

    `resync(symbols)` runs after every reconnect (REST prices for the gap); `on_reconnect` tells the
    connector (which re-reads the account).
    """

    def __init__(
        self,
        ws_base: str,
        plan: ShardPlan,
        sink: MarketSink,
        resync: Callable[[tuple[str, ...]], Awaitable[None]],
        on_reconnect: Callable[[], None],
        backoff: RetryPolicy,
        *,
        silence_s: float = 15.0,
        rotate_after_s: float = ROTATE_AFTER_S,
        use_proxy: bool = True,
        subscribes_per_s: float = SUBSCRIBES_PER_S,
    ) -> None:
        self.plan = plan
        self.url = f"{ws_base.rstrip('/')}/market/stream"
        self._sink = sink
        self._resync = resync
        self._on_reconnect = on_reconnect
        self._interval_s = 1.0 / subscribes_per_s
        self._subscribing: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._pending: dict[int, int] = {}  # SUBSCRIBE id -> streams it asked for
        self._next_id = 0
        self.subscribed = 0  # streams the server acknowledged on the current socket
        self.refusals = 0
        self.last_prices: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self.bad_frames = 0
        self.sink_errors = 0
        self.loop = SocketLoop(
            plan.name,
            self._target,
            self._on_frame,
            self._on_open,
            self._on_down,
            backoff,
            silence_s=silence_s,
            rotate_after_s=rotate_after_s,
            use_proxy=use_proxy,
        )

    @property
    def name(self) -> str:
        return self.plan.name

    async def _target(self) -> str:
        return self.url

    # ---- frames (hot path) ----------------------------------------------------------------------------

    def _on_frame(self, raw: bytes | str) -> None:
        try:
            item = decode_frame(raw)
        except DecodeError:
            self.bad_frames += 1
            return
        try:
            if type(item) is Trade:
                self.last_prices[item.symbol] = item.price
                self._sink.on_trade(item)
            elif type(item) is MarkPrice:
                self.marks[item.symbol] = item.price
                self._sink.on_mark_price(item.symbol, item.price, item.ts_ms)
            elif item is None:
                self._on_reply(raw)
        except Exception:
            # A faulty consumer must not tear the socket down; count it and say so once in a while.
            self.sink_errors += 1
            if self.sink_errors in (1, 10, 100, 1000):
                log.exception("%s: market sink raised (%d so far)", self.name, self.sink_errors)

    def _on_reply(self, raw: bytes | str) -> None:
        """An answer to one of our SUBSCRIBEs: count the streams acknowledged, say loudly if refused."""
        try:
            reply = _decode_reply(raw)
        except msgspec.DecodeError:
            return  # another event's frame we do not consume
        streams = self._pending.pop(reply.id, 0) if isinstance(reply.id, int) else 0
        if reply.error is None:
            self.subscribed += streams
            return
        self.refusals += 1
        self.loop.last_error = f"SUBSCRIBE refused: {reply.error.msg} (code {reply.error.code})"
        log.error("%s: %s", self.name, self.loop.last_error)

    # ---- connection events ----------------------------------------------------------------------------

    def _on_open(self, first: bool) -> None:
        self._pending.clear()
        self.subscribed = 0
        self._subscribing = asyncio.create_task(self._subscribe(), name=f"{self.name}-subscribe")
        self._sink.on_stream_status(self.name, True, "connected" if first else "reconnected")
        if not first:
            self._on_reconnect()
        if not first and (self._resync_task is None or self._resync_task.done()):
            self._resync_task = asyncio.create_task(self._run_resync(), name=f"{self.name}-resync")

    def _on_down(self, reason: str) -> None:
        if self._subscribing is not None:
            self._subscribing.cancel()
        self._sink.on_stream_status(self.name, False, reason)

    async def _subscribe(self) -> None:
        """SUBSCRIBE the plan's batches, one message per interval: the connection's message limit holds."""
        try:
            for index, batch in enumerate(self.plan.batches):
                if index:
                    await asyncio.sleep(self._interval_s)
                self._next_id += 1
                self._pending[self._next_id] = len(batch)
                message = {"method": "SUBSCRIBE", "params": list(batch), "id": self._next_id}
                await self.loop.send(_encode(message).decode())
        except ConnectionClosed:
            pass  # the socket went down mid-way: the next connect subscribes afresh

    async def _run_resync(self) -> None:
        try:
            await self._resync(self.plan.symbols)
        except ExchangeError as exc:
            log.warning("%s: resync after reconnect failed: %s", self.name, exc)

    def health(self) -> StreamConnection:
        return StreamConnection(
            name=self.name,
            connected=self.loop.connected.is_set(),
            symbols=self.plan.symbols,
            connects=self.loop.connects,
            last_error=self.loop.last_error,
        )

    async def stop(self) -> None:
        await self.loop.stop()
        for task in (self._subscribing, self._resync_task):
            if task is not None:
                task.cancel()


class MarketStreams:
    """Every symbol's aggTrade + markPrice@1s, spread over `plan_shards` connections."""

    def __init__(
        self,
        ws_base: str,
        symbols: list[str],
        sink: MarketSink,
        resync: Callable[[tuple[str, ...]], Awaitable[None]],
        on_reconnect: Callable[[], None],
        backoff: Callable[[], RetryPolicy],
        *,
        max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
        streams_per_subscribe: int = STREAMS_PER_SUBSCRIBE,
        silence_s: float = 15.0,
        rotate_after_s: float = ROTATE_AFTER_S,
        use_proxy: bool = True,
    ) -> None:
        plans = plan_shards(symbols, max_streams_per_connection, streams_per_subscribe)
        self.shards = [
            MarketShard(
                ws_base,
                plan,
                sink,
                resync,
                on_reconnect,
                backoff(),
                silence_s=silence_s,
                rotate_after_s=rotate_after_s * (1 - ROTATION_SPREAD * index / len(plans)),
                use_proxy=use_proxy,
            )
            for index, plan in enumerate(plans)
        ]

    @property
    def bad_frames(self) -> int:
        return sum(shard.bad_frames for shard in self.shards)

    def price_cache(self) -> dict[str, float]:
        """Last known price per symbol: the latest trade, else the latest mark."""
        out: dict[str, float] = {}
        for shard in self.shards:
            out.update(shard.marks)
            out.update(shard.last_prices)
        return out

    def health(self) -> tuple[StreamConnection, ...]:
        return tuple(shard.health() for shard in self.shards)

    async def stop(self) -> None:
        for shard in self.shards:
            await shard.stop()
