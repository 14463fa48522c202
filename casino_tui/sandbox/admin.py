"""Admin routes for tests and demos: faults, state (with per-client-id order counts and streams per
connection), request counts, position injection, dropping the one connection that carries a stream.

No signature, no rate limit, but they answer only on loopback (403 for anyone else).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from casino_tui.model import Balance, OrderUpdate, Position
from casino_tui.sandbox.faults import FaultStatus, parse_patch
from casino_tui.sandbox.venue import Venue

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class InjectPosition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A position set behind the client's back; `notify` also sends ACCOUNT_UPDATE (reason ADJUSTMENT)."""

    symbol: str
    qty: float
    entry_price: float
    notify: bool = False


class DropConnection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Close the connection(s) subscribed to `stream` (e.g. "btcusdt@aggTrade"): one socket's loss."""

    stream: str


class ApiRestrictions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    enable_withdrawals: bool


class SandboxState(msgspec.Struct, frozen=True, kw_only=True):
    """What the exchange holds now, plus how many order POSTs each client id sent and got placed."""

    server_time: int
    balance: Balance
    positions: list[Position]
    open_orders: list[OrderUpdate]
    open_algo_orders: list[OrderUpdate]
    orders_received: dict[str, int]
    orders_placed: dict[str, int]
    user_events: dict[str, int]
    active_listen_keys: int
    connections: int
    # Market streams per connection, most first (connections without market streams left out).
    streams_per_connection: list[int]
    faults: FaultStatus


async def collect_state(venue: Venue) -> SandboxState:
    orders = await venue.sim.open_orders()
    return SandboxState(
        server_time=venue.server_ms(),
        balance=await venue.sim.balance(),
        positions=await venue.sim.positions(),
        open_orders=[o for o in orders if not o.is_conditional],
        open_algo_orders=[o for o in orders if o.is_conditional],
        orders_received=dict(venue.ledger.received),
        orders_placed=dict(venue.ledger.placed),
        user_events=dict(venue.user_feed.sent),
        active_listen_keys=len(venue.listen_keys.active()),
        connections=len(venue.connections),
        streams_per_connection=sorted(
            (len(conn.streams) for conn in venue.connections if conn.streams), reverse=True
        ),
        faults=venue.faults.status(),
    )


def _json(value: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status, media_type="application/json")


def _is_loopback(request: Request) -> bool:
    return request.client is not None and request.client.host in LOOPBACK


async def faults(request: Request) -> Response:
    if not _is_loopback(request):
        return _json({"error": "admin answers on loopback only"}, 403)
    venue: Venue = request.app.state.venue
    if request.method == "POST":
        try:
            patch = parse_patch(await request.body())
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _json({"error": str(exc)}, 400)
        venue.apply_faults(patch)
    return _json(venue.faults.status())


async def state(request: Request) -> Response:
    if not _is_loopback(request):
        return _json({"error": "admin answers on loopback only"}, 403)
    return _json(await collect_state(request.app.state.venue))


class RequestReport(msgspec.Struct, frozen=True):
    """REST requests received per `METHOD /path`, and order placements received per client order id."""

    requests: dict[str, int]
    orders: dict[str, int]


async def requests(request: Request) -> Response:
    if not _is_loopback(request):
        return _json({"error": "admin answers on loopback only"}, 403)
    venue: Venue = request.app.state.venue
    return _json(RequestReport(requests=dict(venue.requests.by_route), orders=dict(venue.ledger.received)))


async def inject_position(request: Request) -> Response:
    if not _is_loopback(request):
        return _json({"error": "admin answers on loopback only"}, 403)
    venue: Venue = request.app.state.venue
    try:
        body = msgspec.json.decode(await request.body(), type=InjectPosition)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _json({"error": str(exc)}, 400)
    if body.symbol not in venue.formats:
        return _json({"error": f"unknown symbol: {body.symbol}"}, 400)
    venue.inject_position(body.symbol, body.qty, body.entry_price, body.notify)
    return _json(await venue.sim.positions())


async def drop_connection(request: Request) -> Response:
    if not _is_loopback(request):
        return _json({"error": "admin answers on loopback only"}, 403)
    venue: Venue = request.app.state.venue
    try:
        body = msgspec.json.decode(await request.body(), type=DropConnection)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json({"dropped": venue.drop_connection(body.stream, "drop_connection (admin)")})


async def api_restrictions(request: Request) -> Response:
    if not _is_loopback(request):
        return _json({"error": "admin answers on loopback only"}, 403)
    venue: Venue = request.app.state.venue
    try:
        body = msgspec.json.decode(await request.body(), type=ApiRestrictions)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _json({"error": str(exc)}, 400)
    venue.withdrawals_enabled = body.enable_withdrawals
    return _json({"enableWithdrawals": venue.withdrawals_enabled})


ROUTES = [
    Route("/__admin__/faults", faults, methods=["GET", "POST"]),
    Route("/__admin__/state", state, methods=["GET"]),
    Route("/__admin__/requests", requests, methods=["GET"]),
    Route("/__admin__/inject_position", inject_position, methods=["POST"]),
    Route("/__admin__/api_restrictions", api_restrictions, methods=["POST"]),
    Route("/__admin__/drop_connection", drop_connection, methods=["POST"]),
]
