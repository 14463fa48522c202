"""WebSocket endpoints: market streams (raw and combined, with live SUBSCRIBE) and the user data stream.

Paths served, as on fstream.binance.com: `/market|/public` + `/stream?streams=a/b` (combined) or
`/ws/<anything>` (raw; path segments that name streams are subscribed, others such as ccxt's `/ws/0` are
ignored); `/private/ws?listenKey=K`, `/private/ws/<K>`, `/private/stream?listenKey=K[&listenKey=K2]`
(combined, the wrapper's `stream` is the key), and the bare `/private/ws` and `/private/stream`, whose
SUBSCRIBE may name listenKeys as well as market streams (Binance's SDK opens the bare `/private/stream`);
and the legacy `/ws/<listenKey>`, `/ws/<streams>` and `/stream?streams=`. Request ids may be unsigned
integers or strings (the official SDK sends UUIDs) and are echoed. The server pings every few minutes
(uvicorn's keepalive); more than 10 incoming messages in a second closes the connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Any, TypeGuard

import msgspec
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from casino_tui.sandbox.connection import Connection
from casino_tui.sandbox.streams import StreamKind, StreamSpec, parse_stream
from casino_tui.sandbox.tickers import rolling_day
from casino_tui.sandbox.venue import Venue

log = logging.getLogger("casino.sandbox")

_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
_MAX_ID_LENGTH = 64
_encode = msgspec.json.Encoder().encode


def _reply(result: Any, request_id: int | str) -> str:
    return _encode({"result": result, "id": request_id}).decode()


def _error(code: int, msg: str, request_id: Any = None) -> str:
    # Binance wraps request errors: {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}.
    return _encode({"error": {"code": code, "msg": msg}, "id": request_id}).decode()


def _valid_id(request_id: object) -> TypeGuard[int | str]:
    """An unsigned integer (not a bool) or a non-empty string of at most 64 characters, as Binance accepts."""
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return request_id >= 0
    return isinstance(request_id, str) and 0 < len(request_id) <= _MAX_ID_LENGTH


async def _load_days(venue: Venue, spec: StreamSpec) -> None:
    """Ticker streams report 24 h statistics: read the symbols' history before the first push."""
    if spec.kind in (StreamKind.MINI_TICKER, StreamKind.TICKER):
        for symbol in list(venue.formats) if spec.all_market else [spec.symbol]:
            await rolling_day(venue, symbol)


class RequestHandler:
    """Live subscription requests on a connection (Live-Subscribing-Unsubscribing-to-streams)."""

    def __init__(self, venue: Venue, conn: Connection) -> None:
        self.venue = venue
        self.conn = conn

    async def handle(self, text: str) -> str:
        try:
            message = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            return _error(3, f"Invalid JSON: {exc}")
        if not isinstance(message, dict):
            return _error(2, "Invalid request: expected a JSON object")
        request_id = message.get("id")
        if not _valid_id(request_id):
            return _error(
                2, "Invalid request: request ID must be an unsigned integer or a string", request_id
            )
        method = message.get("method")
        params = message.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return await self._subscription(method, params, request_id)
        if method == "LIST_SUBSCRIPTIONS":
            return _reply(sorted(self.conn.streams | self.conn.listen_keys), request_id)
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return self._property(method, params, request_id)
        return _error(2, f"Invalid request: unknown variant {method}, expected one of {_METHODS}", request_id)

    async def _subscription(self, method: str, params: Any, request_id: int | str) -> str:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return _error(2, "Invalid request: params must be a list of stream names", request_id)
        feed, keys = self.venue.market_feed, self.venue.listen_keys
        specs: list[StreamSpec] = []
        listen_keys: list[str] = []
        for name in params:
            spec = parse_stream(name, feed.symbols)
            if spec is not None:
                specs.append(spec)
            elif self.conn.private and (keys.is_active(name) or name in self.conn.listen_keys):
                listen_keys.append(name)
            else:
                return _error(2, f"Invalid request: invalid stream '{name}'", request_id)
        if method == "UNSUBSCRIBE":
            for spec in specs:
                feed.unsubscribe(self.conn, spec)
            self.conn.listen_keys.difference_update(listen_keys)
            return _reply(None, request_id)
        limit = self.venue.settings.max_streams_per_connection
        wanted = self.conn.streams | self.conn.listen_keys | {s.name for s in specs} | set(listen_keys)
        if len(wanted) > limit:
            return _error(2, f"Invalid request: too many streams (at most {limit})", request_id)
        for spec in specs:
            await _load_days(self.venue, spec)
            feed.subscribe(self.conn, spec)
        self.conn.listen_keys.update(listen_keys)
        return _reply(None, request_id)

    def _property(self, method: str, params: Any, request_id: int | str) -> str:
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            return _error(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            return _error(0, "Unknown property", request_id)
        if method == "GET_PROPERTY":
            return _reply(self.conn.combined, request_id)
        if len(params) != 2 or not isinstance(params[1], bool):
            return _error(1, "Invalid value type: expected Boolean", request_id)
        self.conn.combined = params[1]
        return _reply(None, request_id)


async def _serve(venue: Venue, conn: Connection) -> None:
    """Run one accepted connection until the client leaves, it breaks a rule, or a fault closes it."""
    venue.connections.add(conn)
    if conn.private:
        venue.user_feed.attach(conn)
    writer = asyncio.create_task(conn.write_forever())
    reader = asyncio.create_task(_read(venue, conn, RequestHandler(venue, conn)))
    closer = asyncio.create_task(conn.closed.wait())
    try:
        done, _ = await asyncio.wait(
            {writer, reader, closer},
            timeout=venue.settings.max_connection_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not done:
            conn.request_close(1000, "connection lifetime reached")
    finally:
        for task in (writer, reader, closer):
            task.cancel()
        venue.connections.discard(conn)
        venue.market_feed.drop(conn)
        venue.user_feed.detach(conn)
        if conn.closed.is_set():
            with contextlib.suppress(Exception):
                await conn.websocket.close(conn.close_code, conn.close_reason)


async def _read(venue: Venue, conn: Connection, handler: RequestHandler) -> None:
    recent: collections.deque[float] = collections.deque()
    limit = venue.settings.max_incoming_per_s
    while True:
        message = await conn.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        now = time.monotonic()
        recent.append(now)
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) > limit:
            log.info(
                "closing websocket of %s: more than %d messages per second", conn.websocket.client, limit
            )
            conn.request_close(1008, "Too many messages")
            return
        text = message.get("text")
        if text is not None:
            reply = await handler.handle(text)
            if not venue.faults.silent_sockets:
                conn.push(reply)


def _known_streams(venue: Venue, names: list[str]) -> list[StreamSpec]:
    specs = (parse_stream(name, venue.market_feed.symbols) for name in names)
    return list({spec.name: spec for spec in specs if spec is not None}.values())


async def _initial_streams(venue: Venue, conn: Connection, specs: list[StreamSpec]) -> None:
    for spec in specs:
        await _load_days(venue, spec)
        venue.market_feed.subscribe(conn, spec)


async def _accept_streams(websocket: WebSocket, venue: Venue, names: list[str]) -> list[StreamSpec] | None:
    """The streams named in the URL, or None (handshake refused) when they are more than one connection may
    carry. Binance's refusal for a URL this long is not documented; a SUBSCRIBE over the limit gets the
    request error instead."""
    specs = _known_streams(venue, names)
    limit = venue.settings.max_streams_per_connection
    if len(specs) > limit:
        log.info("refusing a websocket with %d streams in its URL (at most %d)", len(specs), limit)
        await websocket.close(1008, f"too many streams (at most {limit})")
        return None
    await websocket.accept()
    return specs


async def market_stream(websocket: WebSocket) -> None:
    """Combined market streams: `/stream?streams=a/b`, payloads wrapped as {"stream", "data"}."""
    venue: Venue = websocket.app.state.venue
    specs = await _accept_streams(websocket, venue, websocket.query_params.get("streams", "").split("/"))
    if specs is None:
        return
    conn = Connection(websocket, combined=True)
    await _initial_streams(venue, conn, specs)
    await _serve(venue, conn)


async def market_ws(websocket: WebSocket) -> None:
    """Raw market streams: `/ws/<stream>[/<stream>...]` or `/ws/<anything>` followed by SUBSCRIBE."""
    venue: Venue = websocket.app.state.venue
    specs = await _accept_streams(websocket, venue, websocket.path_params.get("rest", "").split("/"))
    if specs is None:
        return
    conn = Connection(websocket, combined=False)
    await _initial_streams(venue, conn, specs)
    await _serve(venue, conn)


async def _user_stream(websocket: WebSocket, keys: list[str], combined: bool) -> None:
    """A private connection; listenKeys named in the URL must be live or the handshake is refused."""
    venue: Venue = websocket.app.state.venue
    if not all(venue.listen_keys.is_active(key) for key in keys):
        await websocket.close(1008, "invalid listenKey")  # before accept: the handshake is refused
        return
    await websocket.accept()
    await _serve(venue, Connection(websocket, combined=combined, private=True, listen_keys=keys))


async def private_ws(websocket: WebSocket) -> None:
    """User data: `/private/ws?listenKey=K`, `/private/ws/<K>`, or bare `/private/ws` then SUBSCRIBE."""
    key = websocket.path_params.get("key")
    keys = [key] if key else websocket.query_params.getlist("listenKey")
    await _user_stream(websocket, keys, combined=False)


async def private_stream(websocket: WebSocket) -> None:
    """User data, combined: `/private/stream?listenKey=K[&listenKey=K2]`, or bare then SUBSCRIBE."""
    await _user_stream(websocket, websocket.query_params.getlist("listenKey"), combined=True)


async def legacy_ws(websocket: WebSocket) -> None:
    """Unrouted `/ws/<x>`: a listenKey opens the user stream, anything else raw market streams."""
    venue: Venue = websocket.app.state.venue
    rest = websocket.path_params.get("rest", "")
    if venue.listen_keys.is_active(rest):
        await _user_stream(websocket, [rest], combined=False)
    else:
        await market_ws(websocket)


ROUTES = [
    WebSocketRoute("/market/stream", market_stream),
    WebSocketRoute("/public/stream", market_stream),
    WebSocketRoute("/stream", market_stream),
    WebSocketRoute("/market/ws", market_ws),
    WebSocketRoute("/public/ws", market_ws),
    WebSocketRoute("/market/ws/{rest:path}", market_ws),
    WebSocketRoute("/public/ws/{rest:path}", market_ws),
    WebSocketRoute("/private/ws", private_ws),
    WebSocketRoute("/private/ws/{key}", private_ws),
    WebSocketRoute("/private/stream", private_stream),
    WebSocketRoute("/ws", market_ws),
    WebSocketRoute("/ws/{rest:path}", legacy_ws),
]
