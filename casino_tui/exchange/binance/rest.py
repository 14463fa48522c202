"""Binance REST transport: one keep-alive httpx client, signing, server-time offset, limiter, breakers.

Every call names an `Endpoint` (method, path, group, weight, security). One attempt goes: breaker gate →
limiter budget → sign with a fresh timestamp → send → feed the limiter from the answer's headers →
classify failures → tell the breaker. Each call is sent once; the one resend here follows -1021, after a
clock resync. Repeating a failed request is the engine's retry layer's decision (engine/retries.py), which
alone knows whether it is an order that must be looked up instead.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import TypeVar

import httpx
import msgspec

from casino_tui.clock import Clock
from casino_tui.exchange.binance.codec import ServerTime, decoder
from casino_tui.exchange.binance.errors import ClockSkewError, classify_response, classify_transport
from casino_tui.exchange.binance.ratelimit import Priority, RateLimiter
from casino_tui.exchange.binance.resilience import CircuitBreaker, counts_against_breaker, describe
from casino_tui.exchange.binance.signing import Credentials, ParamValue, encode_params, redact
from casino_tui.exchange.loopback import is_loopback_url
from casino_tui.port import (
    BreakerStatus,
    ExchangeError,
    RateLimitedError,
    RetriableError,
    UnknownOutcomeError,
)

log = logging.getLogger("casino.binance.rest")
T = TypeVar("T")


class EndpointGroup(enum.StrEnum):
    """Each group has its own circuit breaker and its own 429/418 back-off."""

    MARKET = "market"
    ACCOUNT = "account"
    ORDERS = "orders"
    USER_STREAM = "user_stream"


class Security(enum.Enum):
    NONE = 0
    API_KEY = 1  # X-MBX-APIKEY only (listenKey)
    SIGNED = 2  # key header + timestamp + signature


class Endpoint(msgspec.Struct, frozen=True):
    method: str
    path: str
    group: EndpointGroup
    weight: int
    security: Security = Security.NONE
    orders: int = 0  # order-count cost (X-MBX-ORDER-COUNT-*)
    # v2/ticker/price's X-MBX-USED-WEIGHT-1M is documented as "not accurate, please ignore".
    trust_weight_header: bool = True

    @property
    def is_write(self) -> bool:
        return self.method != "GET"

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"


_M, _A, _O, _U = EndpointGroup.MARKET, EndpointGroup.ACCOUNT, EndpointGroup.ORDERS, EndpointGroup.USER_STREAM
_S = Security.SIGNED
TIME = Endpoint("GET", "/fapi/v1/time", _M, 1)
EXCHANGE_INFO = Endpoint("GET", "/fapi/v1/exchangeInfo", _M, 1)
TICKER_PRICES = Endpoint("GET", "/fapi/v2/ticker/price", _M, 2, trust_weight_header=False)
TICKER_24HR = Endpoint("GET", "/fapi/v1/ticker/24hr", _M, 40)  # every symbol: weight 40 (1 with a symbol)
KLINES = Endpoint("GET", "/fapi/v1/klines", _M, 10)  # weight by limit: see klines_weight()
NEW_ORDER = Endpoint("POST", "/fapi/v1/order", _O, 0, _S, orders=1)
NEW_ALGO_ORDER = Endpoint(
    "POST", "/fapi/v1/algoOrder", _O, 0, _S, orders=1
)  # order count UNCONFIRMED: assume 1
CANCEL_ORDER = Endpoint("DELETE", "/fapi/v1/order", _O, 1, _S)
CANCEL_ALGO_ORDER = Endpoint("DELETE", "/fapi/v1/algoOrder", _O, 1, _S)
QUERY_ORDER = Endpoint("GET", "/fapi/v1/order", _O, 1, _S)
QUERY_ALGO_ORDER = Endpoint("GET", "/fapi/v1/algoOrder", _O, 1, _S)
OPEN_ORDERS = Endpoint("GET", "/fapi/v1/openOrders", _A, 40, _S)  # 1 with a symbol
OPEN_ALGO_ORDERS = Endpoint("GET", "/fapi/v1/openAlgoOrders", _A, 40, _S)  # 1 with a symbol
POSITION_RISK = Endpoint("GET", "/fapi/v3/positionRisk", _A, 5, _S)
POSITION_MODE = Endpoint("GET", "/fapi/v1/positionSide/dual", _A, 30, _S)
BALANCE = Endpoint("GET", "/fapi/v2/balance", _A, 10, _S)  # 5 or 10 depending on doc version: assume 10
LISTEN_KEY_NEW = Endpoint("POST", "/fapi/v1/listenKey", _U, 1, Security.API_KEY)
LISTEN_KEY_KEEPALIVE = Endpoint("PUT", "/fapi/v1/listenKey", _U, 1, Security.API_KEY)
LISTEN_KEY_CLOSE = Endpoint("DELETE", "/fapi/v1/listenKey", _U, 1, Security.API_KEY)
API_RESTRICTIONS = Endpoint("GET", "/sapi/v1/account/apiRestrictions", _A, 1, _S)


def klines_weight(limit: int) -> int:
    """IP weight of GET /fapi/v1/klines by `limit` (BINANCE.md §3.1)."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


Params = Sequence[tuple[str, ParamValue]]
_TIME_DECODER = decoder(ServerTime)


class BinanceRest:
    """Signed and unsigned requests against one REST base URL, through limiter and breakers, each sent once."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        clock: Clock,
        limiter: RateLimiter,
        breakers: dict[EndpointGroup, CircuitBreaker],
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._creds = credentials
        self._clock = clock
        self._limiter = limiter
        self._breakers = breakers
        self._recv_window = recv_window_ms
        self.time_offset_ms = 0
        self.errors = 0
        self._extra_secrets: set[str] = set()
        loopback = is_loopback_url(self.base_url)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            limits=httpx.Limits(max_keepalive_connections=8, max_connections=16, keepalive_expiry=60.0),
            transport=transport,
            trust_env=not loopback,  # a loopback sandbox must never go through a proxy
            headers={"User-Agent": "casino-tui"},
        )

    def add_secret(self, value: str) -> None:
        """Register another string (a listenKey) that must be scrubbed from every error message."""
        self._extra_secrets.add(value)

    def redact(self, text: str) -> str:
        return redact(text, (*self._creds.secrets(), *self._extra_secrets))

    def now_ms(self) -> int:
        """Server time as we estimate it: local clock plus the measured offset."""
        return self._clock.now_ms() + self.time_offset_ms

    async def close(self) -> None:
        await self._client.aclose()

    async def sync_time(self) -> int:
        """Measure the server-time offset (midpoint of the round trip); returns the new offset in ms."""
        t0 = self._clock.now_ms()
        body = await self.call(TIME)
        t1 = self._clock.now_ms()
        server = _TIME_DECODER.decode(body).server_time
        self.time_offset_ms = server - (t0 + t1) // 2
        return self.time_offset_ms

    async def call(
        self,
        endpoint: Endpoint,
        params: Params = (),
        *,
        base_url: str | None = None,
        bypass_breaker: bool = False,
        weight: int | None = None,
    ) -> bytes:
        """Send once and return the raw body of a 2xx answer; any failure is raised as an ExchangeError.

        The one exception: a signed request refused with -1021 is resent once after a clock resync. The
        exchange checks the timestamp before it reads the request, so the refused one did nothing.
        """
        cost = endpoint.weight if weight is None else weight
        try:
            return await self._attempt(endpoint, params, base_url, bypass_breaker, cost)
        except ClockSkewError:
            if endpoint.security is not Security.SIGNED:
                raise
            offset = await self.sync_time()
            log.warning("clock skew on %s: server offset now %d ms; resending once", endpoint.what, offset)
            return await self._attempt(endpoint, params, base_url, bypass_breaker, cost)

    async def _attempt(
        self, endpoint: Endpoint, params: Params, base_url: str | None, bypass: bool, weight: int
    ) -> bytes:
        breaker = self._breakers[endpoint.group]
        took_slot = False
        if not bypass:
            breaker.check()
            took_slot = True
        priority = Priority.ORDER if endpoint.group is EndpointGroup.ORDERS else Priority.NORMAL
        try:
            await self._limiter.acquire(
                endpoint.group.value,
                weight,
                endpoint.orders,
                priority,
                max_wait_s=5.0 if endpoint.group is EndpointGroup.ORDERS else 65.0,
            )
        except BaseException:
            if took_slot:
                breaker.release()
            raise
        records = took_slot or breaker.status is BreakerStatus.CLOSED
        try:
            response = await self._send(endpoint, params, base_url)
        except httpx.HTTPError as exc:
            sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            if sent:
                self._limiter.complete(weight, endpoint.orders)
            else:
                self._limiter.abandon(weight, endpoint.orders)
            err = classify_transport(exc, what=endpoint.what, is_write=endpoint.is_write)
            self._fail(breaker, err, records)
            raise err from None
        except BaseException:
            self._limiter.complete(weight, endpoint.orders)
            if took_slot:
                breaker.release()
            raise
        headers = response.headers
        self._limiter.complete(
            weight,
            endpoint.orders,
            used_weight_1m=_int_header(headers, "x-mbx-used-weight-1m")
            if endpoint.trust_weight_header
            else None,
            order_count_10s=_int_header(headers, "x-mbx-order-count-10s"),
            order_count_1m=_int_header(headers, "x-mbx-order-count-1m"),
        )
        body = response.content
        if response.status_code >= 400:
            err = classify_response(
                response.status_code,
                body,
                what=endpoint.what,
                is_write=endpoint.is_write,
                retry_after=headers.get("retry-after"),
                server_now_ms=self.now_ms(),
            )
            err.args = (self.redact(str(err)),)
            if isinstance(err, RateLimitedError):
                err.retry_after_s = self._limiter.on_rate_limited(
                    endpoint.group.value,
                    err.retry_after_s or None,
                    err.banned,
                    reason=f"HTTP {response.status_code}",
                )
                if err.banned:
                    breaker.force_open(f"IP banned ({response.status_code})", seconds=err.retry_after_s)
            self._fail(breaker, err, records)
            raise err
        if records:
            breaker.record_success()
        return body

    async def _send(self, endpoint: Endpoint, params: Params, base_url: str | None) -> httpx.Response:
        items = list(params)
        if endpoint.security is Security.SIGNED:
            items.append(("recvWindow", self._recv_window))
            items.append(("timestamp", self.now_ms()))
        encoded = encode_params(items)
        if endpoint.security is Security.SIGNED:
            encoded = self._creds.signed(encoded)
        headers = {}
        if endpoint.security is not Security.NONE:
            headers["X-MBX-APIKEY"] = self._creds.api_key
        url = (base_url or self.base_url) + endpoint.path
        if endpoint.method in ("POST", "PUT") and encoded:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return await self._client.request(endpoint.method, url, content=encoded.encode(), headers=headers)
        if encoded:
            url = f"{url}?{encoded}"
        return await self._client.request(endpoint.method, url, headers=headers)

    def _fail(self, breaker: CircuitBreaker, err: ExchangeError, records: bool) -> None:
        self.errors += 1
        if records:
            if counts_against_breaker(err):
                breaker.record_failure(describe(err))
            elif not isinstance(err, RateLimitedError):
                breaker.record_success()  # the exchange answered sensibly: it is healthy
            else:
                breaker.release()
        level = logging.WARNING if isinstance(err, RetriableError | UnknownOutcomeError) else logging.INFO
        log.log(level, "%s", err)


def decode_answer(decoder: msgspec.json.Decoder[T], body: bytes, endpoint: Endpoint) -> T:
    """Decode a 2xx body; a malformed one is a failure of unknown outcome for writes, retriable for reads."""
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        text = f"{endpoint.what}: unexpected answer ({exc})"
        raise (UnknownOutcomeError(text) if endpoint.is_write else RetriableError(text)) from None


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
