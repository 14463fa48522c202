"""`BinanceExchange`: the native Binance USD-M connector behind the `Exchange` protocol.

REST through `BinanceRest` (signing, limiter, breakers; each request sent once), market data on as many /market
sockets as the symbols need (market.py), user data on /private with a listenKey. Plain orders go to /fapi/v1/order; TP/SL go to the Algo
Service (/fapi/v1/algoOrder) since 2025-12-09. An open orders breaker blocks new entries only: cancels,
queries and reduce-only/close-position orders still go out, because protecting a position matters most.

After a socket reconnects or a breaker opens or closes, `Recovery` re-reads the account and probes the
breakers until both succeed (recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

import httpx

from casino_tui.clock import Clock
from casino_tui.config import ExchangeConfig
from casino_tui.exchange.binance import codec, mapping
from casino_tui.exchange.binance import rest as ep
from casino_tui.exchange.binance.market import MarketStreams
from casino_tui.exchange.binance.orders import OrderGateway
from casino_tui.exchange.binance.ratelimit import RateLimiter
from casino_tui.exchange.binance.recovery import Recovery
from casino_tui.exchange.binance.resilience import CircuitBreaker, RetryPolicy
from casino_tui.exchange.binance.rest import BinanceRest, EndpointGroup, Params, decode_answer, klines_weight
from casino_tui.exchange.binance.rules import announced_limits, rules_by_symbol
from casino_tui.exchange.binance.sharding import MAX_STREAMS_PER_CONNECTION
from casino_tui.exchange.binance.signing import (
    Credentials,
    SecretFilter,
    install_secret_filter,
    remove_secret_filter,
)
from casino_tui.exchange.binance.streams import ROTATE_AFTER_S
from casino_tui.exchange.binance.universe import select_perpetuals
from casino_tui.exchange.binance.userstream import KnownOrders, UserStream
from casino_tui.exchange.loopback import is_loopback_url
from casino_tui.healing import RESYNC
from casino_tui.model import (
    TIMEFRAME_MS,
    AccountUpdate,
    Balance,
    Candle,
    OrderRequest,
    OrderUpdate,
    Position,
    SymbolRules,
    Trade,
)
from casino_tui.port import (
    BreakerOpenError,
    BreakerStatus,
    ExchangeHealth,
    KeyPermissions,
    MarketSink,
    RejectedError,
    StreamConnection,
    UserSink,
)

log = logging.getLogger("casino.binance")

PRODUCTION_URLS = ("https://fapi.binance.com", "wss://fstream.binance.com")
TESTNET_URLS = ("https://demo-fapi.binance.com", "wss://fstream.binancefuture.com")
SAPI_URL = "https://api.binance.com"  # apiRestrictions lives on the spot API host
KLINES_PAGE = 1500
START_TIMEOUT_S = 15.0
# Longest wait between reconnect attempts: the screen must match the exchange within 10 s of its return.
RECONNECT_MAX_WAIT_S = 5.0

_POSITIONS = codec.decoder(list[codec.PositionRisk])
_BALANCES = codec.decoder(list[codec.BalanceRow])
_TICKERS = codec.decoder(list[codec.TickerPrice])
_KLINES = codec.decoder(list[codec.KlineRow])
_INFO = codec.decoder(codec.ExchangeInfo)
_DAY_TICKERS = codec.decoder(list[codec.DayTicker])
_RESTRICTIONS = codec.decoder(codec.ApiRestrictions)
_POSITION_MODE = codec.decoder(codec.PositionMode)


class _NullSink:
    def on_trade(self, trade: Trade) -> None: ...
    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None: ...
    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None: ...
    def on_order_update(self, update: OrderUpdate) -> None: ...
    def on_account_update(self, update: AccountUpdate) -> None: ...


class _AccountTap:
    """Forwards user events and remembers which symbols hold a position (a resync reports them flat)."""

    def __init__(self, sink: UserSink, holding: set[str]) -> None:
        self._sink = sink
        self._holding = holding

    def on_order_update(self, update: OrderUpdate) -> None:
        self._sink.on_order_update(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        for pos in update.positions:
            (self._holding.add if pos.qty else self._holding.discard)(pos.symbol)
        self._sink.on_account_update(update)


class BinanceExchange:
    """Binance USD-M futures (production or testnet, or any Binance-protocol server at config URLs)."""

    def __init__(
        self,
        config: ExchangeConfig,
        api_key: str,
        api_secret: str,
        clock: Clock,
        testnet: bool,
        *,
        silence_s: float = 15.0,
        keepalive_s: float = 30 * 60,
        rotate_after_s: float = ROTATE_AFTER_S,
        seed: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
    ) -> None:
        self.name = "binance-testnet" if testnet else "binance"
        default_rest, default_ws = TESTNET_URLS if testnet else PRODUCTION_URLS
        self._config = config
        self._testnet = testnet
        self.rest_url = (config.rest_url or default_rest).rstrip("/")
        self.ws_url = (config.ws_url or default_ws).rstrip("/")
        self._local = is_loopback_url(self.rest_url)
        self.is_live = not testnet and not self._local
        self._clock = clock
        self._silence_s = silence_s
        self._keepalive_s = keepalive_s
        self._rotate_after_s = rotate_after_s
        self._max_streams_per_connection = max_streams_per_connection
        self._rng = random.Random(seed)
        self._secret_filter = SecretFilter()
        creds = Credentials(api_key, api_secret)
        self._secret_filter.add(*creds.secrets())
        install_secret_filter(self._secret_filter)
        self.limiter = RateLimiter(clock.now_ms)
        self.breakers = {group: CircuitBreaker(group.value, clock) for group in EndpointGroup}
        self._rest = BinanceRest(
            self.rest_url,
            creds,
            clock,
            self.limiter,
            self.breakers,
            recv_window_ms=config.recv_window_ms,
            transport=transport,
        )
        self._market_sink: MarketSink = _NullSink()
        self._user_sink: UserSink = _NullSink()
        self._rules: dict[str, SymbolRules] = {}
        self._known = KnownOrders()
        self._orders = OrderGateway(self._rest, self._known, self._rules_for)
        self._holding: set[str] = set()
        self._symbols: list[str] = []
        self.market: MarketStreams | None = None
        self.user: UserStream | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.recovery = Recovery(self._rest, self.breakers, self._resync_account, self._rng)

    def __repr__(self) -> str:
        return f"BinanceExchange({self.name!r}, rest={self.rest_url!r})"

    def share_secrets(self, hide: Callable[[str], None]) -> None:
        """Tell `hide` the API key and secret now, and each listenKey as it is minted."""
        self._secret_filter.watch(hide)

    # ---- lifecycle ------------------------------------------------------------------------------
    def set_sinks(self, market: MarketSink, user: UserSink) -> None:
        self._market_sink = market
        self._user_sink = user

    async def start(self, symbols: list[str]) -> None:
        """Market data, then the account: a bad key fails when the listenKey is minted."""
        await self.start_market(symbols)
        await self.start_account()

    async def start_market(self, symbols: list[str]) -> None:
        """Sync the clock, load rules and open the market sockets: public data only, nothing that can trade."""
        if self.market is not None:
            return
        self._symbols = list(symbols)
        await self._rest.sync_time()
        await self.symbol_rules()
        self.market = MarketStreams(
            self.ws_url,
            self._symbols,
            self._market_sink,
            self._resync_market,
            lambda: self.recovery.on_reconnect("market"),
            self._backoff,
            max_streams_per_connection=self._max_streams_per_connection,
            silence_s=self._silence_s,
            rotate_after_s=self._rotate_after_s,
            use_proxy=not is_loopback_url(self.ws_url),
        )
        tasks = []
        for shard in self.market.shards:
            task = asyncio.create_task(shard.loop.run(), name=f"binance-{shard.name}")
            self._tasks.append(task)
            tasks.append(task)
        await asyncio.gather(
            *(
                self._wait_connected(shard.loop.connected, task)
                for shard, task in zip(self.market.shards, tasks, strict=True)
            )
        )

    async def start_account(self) -> None:
        """Mint a listenKey (a bad key fails here) and open the user-data socket."""
        if self.user is not None:
            return
        user = UserStream(
            self._rest,
            self.ws_url,
            _AccountTap(self._user_sink, self._holding),
            self._known,
            lambda: self.recovery.on_reconnect("user"),
            lambda connected, reason: self._market_sink.on_stream_status("user", connected, reason),
            self._backoff(),
            self._secret_filter,
            keepalive_s=self._keepalive_s,
            rotate_after_s=self._rotate_after_s,
            use_proxy=not is_loopback_url(self.ws_url),
        )
        await (
            user.mint_key()
        )  # a bad key (or an open user-stream breaker) fails here; a later call tries again
        self.user = user
        task = asyncio.create_task(self.user.loop.run(), name="binance-user")
        self._tasks.append(task)
        await self._wait_connected(self.user.loop.connected, task)
        self.recovery.attach(self.user, self._symbols[0])

    async def _wait_connected(self, connected: asyncio.Event, task: asyncio.Task[None]) -> None:
        """Until the socket is up; a stream task that dies (a rejected key) raises here."""
        wait = asyncio.ensure_future(connected.wait())
        try:
            done, _ = await asyncio.wait(
                {wait, task}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                task.result()  # re-raise what stopped the stream
            elif not done:
                log.warning("%s not up after %.0fs; it keeps retrying", task.get_name(), START_TIMEOUT_S)
        finally:
            wait.cancel()

    def _backoff(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=1_000_000, base_s=0.5, max_s=RECONNECT_MAX_WAIT_S, rng=random.Random(self._rng.random())
        )

    async def stop(self) -> None:
        """Close both sockets, drop the listenKey, close the HTTP client. Safe without a `start()`."""
        await self.recovery.stop()
        if self.market is not None:
            await self.market.stop()
        if self.user is not None:
            await self.user.stop()
        for task in self._tasks:
            task.cancel()
        # Shutting down: how each stream task ended no longer matters.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._rest.close()
        remove_secret_filter(self._secret_filter)

    # ---- market data ----------------------------------------------------------------------------
    async def server_time_ms(self) -> int:
        await self._rest.sync_time()
        return self._rest.now_ms()

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        if not self._rules:
            info = decode_answer(_INFO, await self._rest.call(ep.EXCHANGE_INFO), ep.EXCHANGE_INFO)
            self._rules = rules_by_symbol(info)
            weight, orders_10s, orders_1m = announced_limits(info)
            self.limiter.set_limits(weight, orders_10s, orders_1m)
        return dict(self._rules)

    async def listed_perpetuals(self, quote_asset: str, min_quote_volume_24h: float) -> list[str]:
        """`symbols = "all"`: the TRADING perpetuals in `quote_asset` trading at least the 24 h quote volume,
        most traded first (exchangeInfo, then the bulk 24 h ticker: weight 41 in all)."""
        info = decode_answer(_INFO, await self._rest.call(ep.EXCHANGE_INFO), ep.EXCHANGE_INFO)
        rows = decode_answer(_DAY_TICKERS, await self._rest.call(ep.TICKER_24HR), ep.TICKER_24HR)
        volumes = {row.symbol: row.quote_volume for row in rows}
        return select_perpetuals(info, volumes, quote_asset, min_quote_volume_24h)

    async def tickers(self) -> dict[str, float]:
        """All last prices in one request; from the WebSocket cache while the market breaker is open."""
        if self.breakers[EndpointGroup.MARKET].is_open:
            return self._cached_prices()
        try:
            body = await self._rest.call(ep.TICKER_PRICES)
        except BreakerOpenError:
            return self._cached_prices()
        return {t.symbol: t.price for t in decode_answer(_TICKERS, body, ep.TICKER_PRICES)}

    def _cached_prices(self) -> dict[str, float]:
        if self.market is None:
            raise BreakerOpenError("market breaker is open and no stream price is cached yet")
        return self.market.price_cache()

    async def klines(
        self, symbol: str, timeframe: str, limit: int, end_ms: int | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, paging back 1500 at a time."""
        step = TIMEFRAME_MS[timeframe]
        end = self._rest.now_ms() if end_ms is None else end_ms
        out: list[Candle] = []
        cursor = end - 1
        while len(out) < limit:
            page = min(KLINES_PAGE, limit - len(out) + 1)
            params: Params = [
                ("symbol", symbol),
                ("interval", timeframe),
                ("endTime", cursor),
                ("limit", page),
            ]
            rows = decode_answer(
                _KLINES, await self._rest.call(ep.KLINES, params, weight=klines_weight(page)), ep.KLINES
            )
            batch = [
                Candle(symbol, timeframe, r[0], r[1], r[2], r[3], r[4], r[5], r[8], True)
                for r in rows
                if r[0] + step <= end
            ]
            if not batch:
                break
            out[:0] = batch
            cursor = rows[0][0] - 1
            if len(rows) < page:
                break  # the symbol's history starts here
        return out[-limit:] if limit else []

    async def _resync_market(self, symbols: tuple[str, ...]) -> None:
        now = self._clock.now_ms()
        prices = await self.tickers()
        for symbol in symbols:
            price = prices.get(symbol)
            if price:
                self._market_sink.on_mark_price(symbol, price, now)

    # ---- orders ---------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Submit a plain or conditional order; UnknownOutcomeError is never followed by a resend."""
        return await self._orders.place(request)

    async def cancel_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        return await self._orders.cancel(symbol, client_id, conditional)

    async def get_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        return await self._orders.get(symbol, client_id, conditional)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return await self._orders.open(symbol)

    # ---- account --------------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        rows = decode_answer(_POSITIONS, await self._rest.call(ep.POSITION_RISK), ep.POSITION_RISK)
        return [mapping.from_position_risk(r) for r in rows if r.amount != 0.0]

    async def balance(self) -> Balance:
        rows = decode_answer(_BALANCES, await self._rest.call(ep.BALANCE), ep.BALANCE)
        for row in rows:
            if row.asset == "USDT":
                return mapping.from_balance_row(row)
        return Balance(asset="USDT", wallet=0.0, available=0.0)

    async def check_permissions(self) -> codec.ApiRestrictions:
        """The key's permissions (GET /sapi/v1/account/apiRestrictions); the runtime refuses withdrawal rights.

        The futures testnet has no SAPI: there the answer is `checked=False` (a testnet key moves no money).
        """
        if self._testnet and not self._config.rest_url:
            return codec.ApiRestrictions(enable_reading=True, enable_futures=True, checked=False)
        base = self.rest_url if self._config.rest_url else SAPI_URL
        body = await self._rest.call(ep.API_RESTRICTIONS, base_url=base)
        return decode_answer(_RESTRICTIONS, body, ep.API_RESTRICTIONS)

    async def key_permissions(self) -> KeyPermissions:
        """`check_permissions` in the port's terms."""
        answer = await self.check_permissions()
        return KeyPermissions(
            can_trade_futures=answer.enable_futures,
            can_withdraw=answer.enable_withdrawals,
            checked=answer.checked,
        )

    def pump(self, until_ms: int | None = None) -> int:
        return 0  # the exchange streams by itself

    def reopen_breakers(self, saved: dict[str, Any]) -> None:
        """Re-open the breakers that were OPEN at the last snapshot for the rest of their cooldown: a restart
        must not hammer an endpoint group (or a ban) that the previous run had backed off from."""
        by_name = {breaker.name: breaker for breaker in self.breakers.values()}
        for name, entry in saved.items():
            breaker = by_name.get(name)
            if breaker is None or not isinstance(entry, dict) or entry.get("state") != BreakerStatus.OPEN:
                continue
            seconds = float(entry.get("cooldown_s") or 0.0)
            if seconds > 0:
                breaker.force_open(f"restored: {entry.get('reason', '')}", seconds)
                log.warning("breaker %s restored OPEN for %.0fs: %s", name, seconds, entry.get("reason", ""))

    async def is_hedge_mode(self) -> bool:
        """True if the account uses hedge (dual-side) positions; the engine needs one-way mode."""
        body = await self._rest.call(ep.POSITION_MODE)
        return decode_answer(_POSITION_MODE, body, ep.POSITION_MODE).dual_side

    # ---- resync -------------------------------------------------------------------------------
    async def _resync_account(self) -> None:
        """Report orders that changed during a gap, then all positions and the balance (reason RESYNC)."""
        opened = await self.open_orders()
        assert self.user is not None
        open_ids = {u.client_id for u in opened}
        for update in opened:
            self.user.deliver(update)
        for client_id, known in list(self._known.live.items()):
            if client_id not in open_ids:
                fresh = await self.get_order(known.symbol, client_id, known.is_conditional)
                if fresh is not None:
                    self.user.deliver(fresh)
        positions = await self.positions()
        held = {p.symbol for p in positions}
        flat = tuple(Position(symbol, 0.0, 0.0) for symbol in sorted(self._holding - held))
        balance = await self.balance()
        self._holding.clear()
        self._holding.update(held)
        self._user_sink.on_account_update(
            AccountUpdate(
                balances=(balance,), positions=(*positions, *flat), reason=RESYNC, ts_ms=self._rest.now_ms()
            )
        )

    # ---- health ---------------------------------------------------------------------------------
    def health(self) -> ExchangeHealth:
        return ExchangeHealth(
            breakers=tuple(b.snapshot() for b in self.breakers.values()),
            used_weight_1m=self.limiter.used_weight,
            weight_limit_1m=self.limiter.weight_limit,
            order_count_10s=self.limiter.order_count_10s,
            order_limit_10s=self.limiter.order_limit_10s,
            order_count_1m=self.limiter.order_count_1m,
            order_limit_1m=self.limiter.order_limit_1m,
            errors=self._rest.errors,
            streams=self._stream_health(),
        )

    def _stream_health(self) -> tuple[StreamConnection, ...]:
        market = self.market.health() if self.market is not None else ()
        if self.user is None:
            return market
        user = self.user.loop
        return (
            *market,
            StreamConnection(
                "user", user.connected.is_set(), connects=user.connects, last_error=user.last_error
            ),
        )

    async def _rules_for(self, symbol: str) -> SymbolRules:
        if not self._rules:
            await self.symbol_rules()
        rules = self._rules.get(symbol)
        if rules is None:
            raise RejectedError(f"{symbol}: not a tradable USDT perpetual on {self.name}")
        return rules
