"""The Starlette application: every REST call goes through one pipeline, as at Binance's gateway.

Pipeline: ban / rate-limit storm / weight and order-count limits (counted before authentication, per IP),
then the security type's checks (API key, HMAC over the raw bytes, recvWindow), then the handler; every
reply carries `X-MBX-USED-WEIGHT-1M`, order endpoints also `X-MBX-ORDER-COUNT-10S/1M`. Unknown paths get a
404 through the same pipeline, so they too are weighed and carry the header.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from casino_tui.sandbox import account, admin, algo, auth, errors, history, market, rest, tickers, weights, ws
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.venue import Venue

log = logging.getLogger("casino.sandbox")

ENDPOINTS: list[Endpoint] = [
    *market.ENDPOINTS,
    *tickers.ENDPOINTS,
    *rest.ENDPOINTS,
    *algo.ENDPOINTS,
    *account.ENDPOINTS,
    *history.ENDPOINTS,
]
_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
_INTERNAL_ERROR = errors.ApiError(-1000, "An unknown error occured while processing the request.", status=500)


def admit(venue: Venue, cost: weights.Cost) -> None:
    """Rate limiting before anything else: an active ban, then the storm fault, then the real counters."""
    limiter = venue.limiter
    if limiter.banned_for_ms():
        raise limiter.banned_error()
    storm = venue.faults.take_storm()
    if storm is not None:
        if limiter.note_limited_request(storm.ban_after, storm.ban_s):
            venue.faults.end_storm()
            raise limiter.banned_error()
        raise weights.too_many_requests(limiter.weight_limit, retry_ms=1000)
    limiter.charge(cost)


class Pipeline:
    """Dispatches a request to its Endpoint through the gateway checks."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self._table = {(e.method, e.path): e for e in endpoints}
        self._encode = msgspec.json.Encoder().encode

    async def handle(self, request: Request) -> Response:
        venue: Venue = request.app.state.venue
        method, path = request.method, request.url.path
        query: bytes = request.scope.get("query_string", b"")
        body = await request.body()
        cost = weights.Cost(1)
        headers: dict[str, str] = {}
        endpoint = self._table.get((method, path))
        venue.requests.count(method, path, served=endpoint is not None)
        try:
            cost = weights.cost_of(method, path, auth.parse_params(query, body))
            admit(venue, cost)
            if endpoint is None:
                raise errors.invalid_path(method, path)
            params = self._authenticate(venue, endpoint, request, query, body)
            status, content = 200, self._encode(await endpoint.handler(Call(venue, params)))
        except errors.ApiError as exc:
            status, content = exc.status, self._encode(exc.body())
            headers.update(exc.headers)
        except Exception:
            log.exception("sandbox handler failed: %s %s", method, path)
            status, content = _INTERNAL_ERROR.status, self._encode(_INTERNAL_ERROR.body())
        usage = venue.limiter.usage()
        headers["X-MBX-USED-WEIGHT-1M"] = str(usage.weight_1m)
        if cost.is_order:
            headers["X-MBX-ORDER-COUNT-10S"] = str(usage.orders_10s)
            headers["X-MBX-ORDER-COUNT-1M"] = str(usage.orders_1m)
        if venue.faults.slow_ms:
            await asyncio.sleep(venue.faults.slow_ms / 1000.0)
        return Response(content, status, headers, media_type="application/json")

    @staticmethod
    def _authenticate(
        venue: Venue, endpoint: Endpoint, request: Request, query: bytes, body: bytes
    ) -> dict[str, str]:
        api_key = request.headers.get("X-MBX-APIKEY")
        if endpoint.security is Security.SIGNED:
            return auth.verify_signed(query, body, api_key, venue.credentials, venue.server_ms())
        if endpoint.security is Security.API_KEY:
            auth.check_api_key(api_key, venue.credentials)
        return auth.parse_params(query, body)


def build_app(venue: Venue) -> Starlette:
    """The sandbox's ASGI app over `venue` (REST, WebSocket and admin routes on one port)."""
    pipeline = Pipeline(ENDPOINTS)
    methods: dict[str, list[str]] = defaultdict(list)
    for endpoint in ENDPOINTS:
        methods[endpoint.path].append(endpoint.method)
    routes: list[BaseRoute] = [*admin.ROUTES, *ws.ROUTES]
    routes += [Route(path, pipeline.handle, methods=verbs) for path, verbs in methods.items()]
    routes.append(Route("/{path:path}", pipeline.handle, methods=_ALL_METHODS))
    app = Starlette(routes=routes)
    app.state.venue = venue
    return app
