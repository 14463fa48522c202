"""Other Binance clients against the sandbox, over real loopback sockets: python-binance and Binance's
official USDⓈ-M SDK (REST, and its WebSocket streams with their default settings).

Both REST clients are blocking (requests), so their calls run in a worker thread while the sandbox answers on
this test's event loop. The SDK's streams run on this loop (aiohttp). The sandbox runs on the wall clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from binance.client import Client
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api import models as rest_models
from binance_sdk_derivatives_trading_usds_futures.rest_api.rest_api import (
    DerivativesTradingUsdsFuturesRestAPI,
)
from binance_sdk_derivatives_trading_usds_futures.websocket_streams import models as ws_models
from pydantic import BaseModel
from sdk_shapes import TypeWarnings, missing_keys, strict_errors, unset_fields

from casino_tui.sandbox import SandboxServer, running_sandbox

API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
CALL_DEADLINE_S = 30.0
STREAM_DEADLINE_S = 20.0


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with running_sandbox(symbols=SYMBOLS, seed=11) as server:
        yield server


async def off_loop(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking client call, in a worker thread so the sandbox on this loop can answer it."""
    return await asyncio.wait_for(asyncio.to_thread(call, *args, **kwargs), CALL_DEADLINE_S)


async def wait_until(condition: Callable[[], Any], what: str) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + STREAM_DEADLINE_S
    while not (result := condition()):
        if loop.time() > end:
            raise AssertionError(f"timed out after {STREAM_DEADLINE_S:g}s waiting for {what}")
        await asyncio.sleep(0.02)
    return result


def python_binance(sandbox: SandboxServer) -> Client:
    """python-binance pointed at the sandbox, as BINANCE.md §10 says."""
    client = Client(API_KEY, API_SECRET, ping=False, requests_params={"timeout": 10})
    client.FUTURES_URL = f"{sandbox.base_url}/fapi"
    return client


def official_rest(sandbox: SandboxServer) -> DerivativesTradingUsdsFuturesRestAPI:
    """The official SDK's REST client; a 10 s timeout instead of 1 s, for a loaded test machine."""
    config = ConfigurationRestAPI(
        api_key=API_KEY, api_secret=API_SECRET, base_path=sandbox.base_url, timeout=10_000
    )
    return DerivativesTradingUsdsFutures(config_rest_api=config).rest_api


def official_streams(sandbox: SandboxServer) -> Any:
    """The official SDK's WebSocket streams client with its default settings and the sandbox's URL."""
    config = ConfigurationWebSocketStreams(stream_url=sandbox.ws_url)
    return DerivativesTradingUsdsFutures(config_ws_streams=config).websocket_streams


def on_tick(price: float, tick: str) -> str:
    decimals = len(tick.rstrip("0").partition(".")[2])
    return f"{round(price / float(tick)) * float(tick):.{decimals}f}"


# -- python-binance ---------------------------------------------------------------------------------------


async def test_python_binance_reads_time_exchange_info_balance_and_positions(sandbox: SandboxServer) -> None:
    client = python_binance(sandbox)
    before = sandbox.venue.server_ms()
    server_time = (await off_loop(client.futures_time))["serverTime"]
    assert before <= server_time <= sandbox.venue.server_ms()
    info = await off_loop(client.futures_exchange_info)
    assert [s["symbol"] for s in info["symbols"]] == SYMBOLS
    balances = await off_loop(client.futures_account_balance)
    assert [b["asset"] for b in balances] == ["USDT"] and float(balances[0]["availableBalance"]) > 0
    assert await off_loop(client.futures_position_information) == []  # v3 lists only symbols in use
    account = await off_loop(client.futures_account)
    assert account["feeBurn"] is False and float(account["totalWalletBalance"]) > 0


async def test_python_binance_opens_protects_and_closes_a_position(sandbox: SandboxServer) -> None:
    client = python_binance(sandbox)
    tick = sandbox.venue.rules["ETHUSDT"].tick_size
    bought = await off_loop(
        client.futures_create_order,
        symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.100", newOrderRespType="RESULT",
    )  # fmt: skip
    assert bought["status"] == "FILLED" and bought["executedQty"] == "0.100"
    entry = float(bought["avgPrice"])
    # python-binance routes conditional types to the Algo Service itself (stopPrice becomes triggerPrice).
    stop = await off_loop(
        client.futures_create_order,
        symbol="ETHUSDT", side="SELL", type="STOP_MARKET", stopPrice=on_tick(entry * 0.5, tick), closePosition="true",
    )  # fmt: skip
    take = await off_loop(
        client.futures_create_order,
        symbol="ETHUSDT", side="SELL", type="TAKE_PROFIT_MARKET", stopPrice=on_tick(entry * 1.5, tick),
        closePosition="true",
    )  # fmt: skip
    assert (stop["orderType"], take["orderType"]) == ("STOP_MARKET", "TAKE_PROFIT_MARKET")
    open_algo = await off_loop(client.futures_get_open_orders, symbol="ETHUSDT", conditional=True)
    assert sorted(o["algoId"] for o in open_algo) == sorted([stop["algoId"], take["algoId"]])
    assert await off_loop(client.futures_get_open_orders, symbol="ETHUSDT") == []  # algo orders are apart

    canceled = await off_loop(client.futures_cancel_order, symbol="ETHUSDT", algoId=take["algoId"])
    assert canceled["code"] == "200"
    position = (await off_loop(client.futures_position_information, symbol="ETHUSDT"))[0]
    assert position["positionAmt"] == "0.100"
    closed = await off_loop(
        client.futures_create_order,
        symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.100", reduceOnly="true", newOrderRespType="RESULT",
    )  # fmt: skip
    assert closed["status"] == "FILLED" and closed["reduceOnly"] is True
    done = await off_loop(client.futures_cancel_all_algo_open_orders, symbol="ETHUSDT")
    assert done["code"] == 200

    state = await sandbox.state()
    assert state.positions == [] and state.open_algo_orders == [] and state.open_orders == []
    history = await off_loop(client.futures_get_all_orders, symbol="ETHUSDT")
    assert [o["status"] for o in history] == ["FILLED", "FILLED"]
    algo_history = await off_loop(client.futures_get_all_orders, symbol="ETHUSDT", conditional=True)
    status = {o["algoId"]: o["algoStatus"] for o in algo_history}
    assert status[take["algoId"]] == "CANCELED"
    assert status[stop["algoId"]] in ("EXPIRED", "CANCELED")  # closePosition expires with the position


async def test_python_binance_reads_the_history_and_account_endpoints_it_wraps(
    sandbox: SandboxServer,
) -> None:
    client = python_binance(sandbox)
    bought = await off_loop(
        client.futures_create_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
    )
    await wait_until(lambda: sandbox.venue.ledger.fills, "the fill of the market order")
    trades = await off_loop(client.futures_account_trades, symbol="BTCUSDT")
    assert [t["orderId"] for t in trades] == [bought["orderId"]]
    income = await off_loop(client.futures_income_history, incomeType="COMMISSION")
    assert [row["tradeId"] for row in income] == [str(trades[0]["id"])]
    assert float(income[0]["income"]) == -float(trades[0]["commission"])
    brackets = await off_loop(client.futures_leverage_bracket, symbol="BTCUSDT")
    assert brackets["brackets"][0]["initialLeverage"] == 125
    fees = await off_loop(client.futures_commission_rate, symbol="BTCUSDT")
    assert float(fees["takerCommissionRate"]) > float(fees["makerCommissionRate"]) > 0
    klines = await off_loop(client.futures_klines, symbol="BTCUSDT", interval="1m", limit=3)
    kline_types = [int, str, str, str, str, str, int, str, int, str, str, str]
    assert len(klines) == 3 and all([type(v) for v in row] == kline_types for row in klines)
    ticker = await off_loop(client.futures_ticker, symbol="BTCUSDT")
    assert float(ticker["lowPrice"]) <= float(ticker["lastPrice"]) <= float(ticker["highPrice"])
    assert ticker["count"] == ticker["lastId"] - ticker["firstId"] + 1 > 0


# -- Binance's official SDK: REST -------------------------------------------------------------------------


async def test_official_sdk_opens_protects_and_closes_a_position(sandbox: SandboxServer) -> None:
    rest = official_rest(sandbox)
    with TypeWarnings() as warnings:
        assert (await off_loop(rest.check_server_time)).data().server_time > 0
        info = (await off_loop(rest.exchange_information)).data()
        assert [s.symbol for s in info.symbols] == SYMBOLS
        balance = (await off_loop(rest.futures_account_balance_v3)).data()
        assert float(balance[0].available_balance) > 0
        assert (await off_loop(rest.position_information_v3)).data() == []

        bought = (
            await off_loop(
                rest.new_order,
                symbol="BTCUSDT",
                side=rest_models.NewOrderSideEnum.BUY,
                type=rest_models.NewOrderTypeEnum.MARKET,
                quantity=0.01,
                new_order_resp_type=rest_models.NewOrderNewOrderRespTypeEnum.RESULT,
            )
        ).data()
        assert bought.status == "FILLED" and bought.executed_qty == "0.010"
        opened = (await off_loop(rest.position_information_v3, symbol="BTCUSDT")).data()
        entry = float(opened[0].entry_price)
        protective = {}
        for kind, trigger in (("STOP_MARKET", entry * 0.5), ("TAKE_PROFIT_MARKET", entry * 1.5)):
            placed = await off_loop(
                rest.new_algo_order,
                algo_type=rest_models.NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
                symbol="BTCUSDT",
                side=rest_models.NewAlgoOrderSideEnum.SELL,
                type=rest_models.NewAlgoOrderTypeEnum[kind],
                trigger_price=float(on_tick(trigger, sandbox.venue.rules["BTCUSDT"].tick_size)),
                close_position=rest_models.NewAlgoOrderClosePositionEnum.TRUE,
            )
            protective[kind] = placed.data().algo_id
        listed = (await off_loop(rest.current_all_algo_open_orders, symbol="BTCUSDT")).data()
        assert {o.order_type: o.algo_id for o in listed} == protective
        assert (await off_loop(rest.current_all_open_orders, symbol="BTCUSDT")).data() == []

        canceled = (await off_loop(rest.cancel_algo_order, algo_id=protective["TAKE_PROFIT_MARKET"])).data()
        assert canceled.code == "200"
        positions = (await off_loop(rest.position_information_v3, symbol="BTCUSDT")).data()
        assert [p.position_amt for p in positions] == ["0.010"]
        closed = (
            await off_loop(
                rest.new_order,
                symbol="BTCUSDT",
                side=rest_models.NewOrderSideEnum.SELL,
                type=rest_models.NewOrderTypeEnum.MARKET,
                quantity=0.01,
                reduce_only=rest_models.NewOrderReduceOnlyEnum.TRUE,
                new_order_resp_type=rest_models.NewOrderNewOrderRespTypeEnum.RESULT,
            )
        ).data()
        assert closed.status == "FILLED" and closed.reduce_only is True
        await off_loop(rest.cancel_all_algo_open_orders, symbol="BTCUSDT")
    assert warnings.messages == []
    state = await sandbox.state()
    assert state.positions == [] and state.open_algo_orders == []


# Keys the SDK's models declare that Binance sends only in cases the sandbox never has (each with why).
_NOT_APPLICABLE = frozenset(
    {
        "filters.*",  # one model for every filter type: each filter has only its own keys
        "notionalCoef",  # "only appears when user's symbol bracket is adjusted"
        "cumBase",  # COIN-M order field
        "pair",  # COIN-M order and trade field
        "baseQty",  # COIN-M trade field
        "marginAsset",  # COIN-M trade field (USD-M positions carry their own)
        "activatePrice",  # trailing stop orders only (not modelled)
        "priceRate",  # trailing stop orders only
    }
)


def _signed(params: dict[str, Any]) -> str:
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    return f"{query}&signature={hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()}"


async def test_every_rest_payload_has_the_keys_and_types_of_the_official_sdk_models(
    sandbox: SandboxServer,
) -> None:
    rest = official_rest(sandbox)
    # Something in every list: a fill, a realized loss or gain, a resting order and a conditional one.
    await off_loop(rest.new_order, symbol="ETHUSDT", side="BUY", type="MARKET", quantity=0.2)
    await off_loop(
        rest.new_order, symbol="ETHUSDT", side="SELL", type="MARKET", quantity=0.1, reduce_only="true"
    )
    await off_loop(
        rest.new_order,
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        quantity=0.1,
        price=1000,
        time_in_force="GTC",
    )
    await off_loop(
        rest.new_algo_order,
        algo_type="CONDITIONAL", symbol="ETHUSDT", side="SELL", type="STOP_MARKET", trigger_price=500,
        close_position="true",
    )  # fmt: skip
    cases: list[tuple[str, str, dict[str, Any], bool, Callable[[], Any], type[BaseModel]]] = [
        ("GET", "/fapi/v1/exchangeInfo", {}, False, rest.exchange_information, rest_models.ExchangeInformationResponse),
        ("GET", "/fapi/v1/ticker/24hr", {"symbol": "ETHUSDT"}, False,
         lambda: rest.ticker24hr_price_change_statistics(symbol="ETHUSDT"),
         rest_models.Ticker24hrPriceChangeStatisticsResponse),
        ("GET", "/fapi/v1/ticker/24hr", {}, False, rest.ticker24hr_price_change_statistics,
         rest_models.Ticker24hrPriceChangeStatisticsResponse),
        ("GET", "/fapi/v1/ticker/price", {}, False, rest.symbol_price_ticker, rest_models.SymbolPriceTickerResponse),
        ("GET", "/fapi/v2/ticker/price", {"symbol": "ETHUSDT"}, False,
         lambda: rest.symbol_price_ticker_v2(symbol="ETHUSDT"), rest_models.SymbolPriceTickerV2Response),
        ("GET", "/fapi/v1/ticker/bookTicker", {}, False, rest.symbol_order_book_ticker,
         rest_models.SymbolOrderBookTickerResponse),
        ("GET", "/fapi/v1/premiumIndex", {"symbol": "ETHUSDT"}, False, lambda: rest.mark_price(symbol="ETHUSDT"),
         rest_models.MarkPriceResponse),
        ("GET", "/fapi/v1/depth", {"symbol": "ETHUSDT", "limit": 5}, False,
         lambda: rest.order_book(symbol="ETHUSDT", limit=5), rest_models.OrderBookResponse),
        ("GET", "/fapi/v1/leverageBracket", {"symbol": "ETHUSDT"}, True,
         lambda: rest.notional_and_leverage_brackets(symbol="ETHUSDT"),
         rest_models.NotionalAndLeverageBracketsResponse),
        ("GET", "/fapi/v1/leverageBracket", {}, True, rest.notional_and_leverage_brackets,
         rest_models.NotionalAndLeverageBracketsResponse),
        ("GET", "/fapi/v1/commissionRate", {"symbol": "ETHUSDT"}, True,
         lambda: rest.user_commission_rate(symbol="ETHUSDT"), rest_models.UserCommissionRateResponse),
        ("GET", "/fapi/v2/account", {}, True, rest.account_information_v2, rest_models.AccountInformationV2Response),
        ("GET", "/fapi/v3/account", {}, True, rest.account_information_v3, rest_models.AccountInformationV3Response),
        ("GET", "/fapi/v2/balance", {}, True, rest.futures_account_balance_v2,
         rest_models.FuturesAccountBalanceV2Response),
        ("GET", "/fapi/v3/balance", {}, True, rest.futures_account_balance_v3,
         rest_models.FuturesAccountBalanceV3Response),
        ("GET", "/fapi/v2/positionRisk", {}, True, rest.position_information_v2,
         rest_models.PositionInformationV2Response),
        ("GET", "/fapi/v3/positionRisk", {}, True, rest.position_information_v3,
         rest_models.PositionInformationV3Response),
        ("GET", "/fapi/v1/accountConfig", {}, True, rest.futures_account_configuration,
         rest_models.FuturesAccountConfigurationResponse),
        ("GET", "/fapi/v1/symbolConfig", {}, True, rest.symbol_configuration, rest_models.SymbolConfigurationResponse),
        ("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"}, True,
         lambda: rest.current_all_open_orders(symbol="ETHUSDT"), rest_models.CurrentAllOpenOrdersResponse),
        ("GET", "/fapi/v1/allOrders", {"symbol": "ETHUSDT"}, True, lambda: rest.all_orders(symbol="ETHUSDT"),
         rest_models.AllOrdersResponse),
        ("GET", "/fapi/v1/openAlgoOrders", {}, True, rest.current_all_algo_open_orders,
         rest_models.CurrentAllAlgoOpenOrdersResponse),
        ("GET", "/fapi/v1/allAlgoOrders", {"symbol": "ETHUSDT"}, True,
         lambda: rest.query_all_algo_orders(symbol="ETHUSDT"), rest_models.QueryAllAlgoOrdersResponse),
        ("GET", "/fapi/v1/userTrades", {"symbol": "ETHUSDT"}, True,
         lambda: rest.account_trade_list(symbol="ETHUSDT"), rest_models.AccountTradeListResponse),
        ("GET", "/fapi/v1/income", {}, True, rest.get_income_history, rest_models.GetIncomeHistoryResponse),
    ]  # fmt: skip
    problems: dict[str, list[str]] = {}
    async with httpx.AsyncClient(base_url=sandbox.base_url, headers={"X-MBX-APIKEY": API_KEY}) as http:
        for method, path, params, signed, sdk_call, model in cases:
            name = f"{method} {path} {params}"
            query = _signed(params) if signed else urlencode(params)
            payload = (await http.request(method, f"{path}?{query}")).json()
            gaps = missing_keys(payload, model, allowed=_NOT_APPLICABLE)
            assert payload, f"{name} sent nothing to check"
            with TypeWarnings() as warnings:
                (await off_loop(sdk_call)).data()
            if gaps or warnings.messages:
                problems[name] = gaps + warnings.messages
    assert problems == {}


# -- Binance's official SDK: WebSocket streams ------------------------------------------------------------


class Inbox:
    """Messages the SDK hands to `on("message")` callbacks, per stream name."""

    def __init__(self) -> None:
        self.by_stream: dict[str, list[Any]] = {}
        self.errors: list[Any] = []

    def collect(self, stream: str) -> Callable[[Any], None]:
        self.by_stream.setdefault(stream, [])
        return self.by_stream[stream].append

    def waiting_for(self) -> list[str]:
        return [name for name, got in self.by_stream.items() if not got]


async def test_official_sdk_market_streams_arrive_as_its_models(sandbox: SandboxServer) -> None:
    streams = official_streams(sandbox)
    inbox = Inbox()
    with TypeWarnings() as warnings:
        await streams.create_connection()
        streams.on_connection("error", inbox.errors.append)
        handles = {
            "btcusdt@aggTrade": await streams.aggregate_trade_streams(symbol="btcusdt"),
            "btcusdt@markPrice@1s": await streams.mark_price_stream(
                symbol="btcusdt", update_speed=ws_models.MarkPriceStreamUpdateSpeedEnum.UPDATE_SPEED_1s
            ),
            "ethusdt@kline_1m": await streams.kline_candlestick_streams(
                symbol="ethusdt", interval=ws_models.KlineCandlestickStreamsIntervalEnum.INTERVAL_1m
            ),
            "btcusdt@depth5@100ms": await streams.partial_book_depth_streams(
                symbol="btcusdt",
                levels=ws_models.PartialBookDepthStreamsLevelsEnum.LEVELS_5,
                update_speed=ws_models.PartialBookDepthStreamsUpdateSpeedEnum.UPDATE_SPEED_100ms,
            ),
        }
        for name, handle in handles.items():
            handle.on("message", inbox.collect(name))
        try:
            await wait_until(lambda: not inbox.waiting_for(), "a message on every stream")
        finally:
            await streams.close_connection()
    assert warnings.messages == [] and inbox.errors == []
    trade = inbox.by_stream["btcusdt@aggTrade"][0]
    assert isinstance(trade, ws_models.AggregateTradeStreamsResponse) and trade.s == "BTCUSDT"
    assert unset_fields(trade, allowed=frozenset({"st"})) == []
    kline = inbox.by_stream["ethusdt@kline_1m"][0]
    assert kline.k.i == "1m" and kline.k.s == "ETHUSDT"
    book = inbox.by_stream["btcusdt@depth5@100ms"][0]
    assert len(book.b) == len(book.a) == 5 and book.pu == book.U - 1
    assert inbox.by_stream["btcusdt@markPrice@1s"][0].e == "markPriceUpdate"


async def test_official_sdk_user_data_stream_subscribes_a_listen_key_on_the_bare_private_route(
    sandbox: SandboxServer,
) -> None:
    rest = official_rest(sandbox)
    streams = official_streams(sandbox)
    events: list[Any] = []
    errors: list[Any] = []
    with TypeWarnings() as warnings:
        listen_key = (await off_loop(rest.start_user_data_stream)).data().listen_key
        await streams.create_connection()
        streams.on_connection("error", errors.append)
        handle = await streams.user_data(listen_key)
        handle.on("message", lambda message: events.append(message.actual_instance))
        await wait_until(lambda: listen_key in _private_keys(sandbox), "the sandbox to attach the listenKey")
        try:
            await off_loop(rest.new_order, symbol="ETHUSDT", side="BUY", type="MARKET", quantity=0.1)
            await off_loop(
                rest.new_algo_order,
                algo_type="CONDITIONAL", symbol="ETHUSDT", side="SELL", type="STOP_MARKET", trigger_price=500,
                close_position="true",
            )  # fmt: skip
            await wait_until(
                lambda: _kinds(events) >= {"OrderTradeUpdate", "AccountUpdate", "AlgoUpdate"}, "events"
            )
        finally:
            await streams.close_connection()
    assert warnings.messages == [] and errors == []
    filled = next(e for e in events if type(e).__name__ == "OrderTradeUpdate" and e.o.X == "FILLED")
    assert filled.o.s == "ETHUSDT" and filled.o.z == "0.100"
    not_in_these_events = frozenset(
        {
            "o.AP", "o.cr", "o.ia",  # trailing stops only
            "o.M",  # order amendments only
            "o.N", "o.n",  # commission: only on fills
            "a.S",  # FUNDING_FEE updates only
        }
    )  # fmt: skip
    assert [gap for e in events for gap in unset_fields(e, allowed=not_in_these_events)] == []


def _private_keys(sandbox: SandboxServer) -> set[str]:
    return {key for conn in sandbox.venue.connections if conn.private for key in conn.listen_keys}


def _kinds(events: list[Any]) -> set[str]:
    return {type(e).__name__ for e in events}


# Every stream name of the SDK's market and public groups: the model its payload must fit, whether the
# payload is a list of them, and keys the sandbox does not send (CM-migration fields, not in BINANCE.md §7).
_CM = frozenset({"st", "ps"})
STREAM_MODELS: dict[str, tuple[str, type[BaseModel], bool, frozenset[str]]] = {
    "btcusdt@aggTrade": ("market", ws_models.AggregateTradeStreamsResponse, False, _CM),
    "btcusdt@markPrice": ("market", ws_models.MarkPriceStreamResponse, False, _CM),
    "!markPrice@arr@1s": ("market", ws_models.MarkPriceStreamForAllMarketResponseInner, True, _CM),
    "btcusdt@kline_1m": ("market", ws_models.KlineCandlestickStreamsResponse, False, _CM),
    "btcusdt_perpetual@continuousKline_1m": (
        "market",
        ws_models.ContinuousContractKlineCandlestickStreamsResponse,
        False,
        frozenset({"st"}),
    ),  # fmt: skip
    "btcusdt@miniTicker": ("market", ws_models.IndividualSymbolMiniTickerStreamResponse, False, _CM),
    "btcusdt@ticker": ("market", ws_models.IndividualSymbolTickerStreamsResponse, False, _CM),
    "!miniTicker@arr": ("market", ws_models.AllMarketMiniTickersStreamResponseInner, True, _CM),
    "!ticker@arr": ("market", ws_models.AllMarketTickersStreamsResponseInner, True, _CM),
    "btcusdt@bookTicker": ("public", ws_models.IndividualSymbolBookTickerStreamsResponse, False, _CM),
    "!bookTicker": ("public", ws_models.AllBookTickersStreamResponse, False, _CM),
    "btcusdt@depth10": ("public", ws_models.PartialBookDepthStreamsResponse, False, _CM),
    "btcusdt@depth@100ms": ("public", ws_models.DiffBookDepthStreamsResponse, False, _CM),
}
# Accepted and silent, as on Binance when nothing happens: the sim liquidates nobody and lists no new contract.
SILENT_STREAMS = ["btcusdt@forceOrder", "!forceOrder@arr", "!contractInfo"]


async def test_every_stream_name_the_sdk_offers_is_served_with_binance_payload_keys(
    sandbox: SandboxServer,
) -> None:
    streams = official_streams(sandbox)
    inbox = Inbox()
    with TypeWarnings() as warnings:
        await streams.create_connection()
        for route in ("market", "public"):
            names = [name for name, (r, *_) in STREAM_MODELS.items() if r == route]
            await streams.subscribe(names + (SILENT_STREAMS if route == "market" else []), stream_url=route)
            for name in names:
                streams.on("message", inbox.collect(name), name)
        try:
            await wait_until(lambda: not inbox.waiting_for(), "a message on every stream")
            listed = await streams.list_subscribe()
        finally:
            await streams.close_connection()
    assert warnings.messages == []
    assert set(SILENT_STREAMS) <= set(listed["result"])
    problems = {}
    for name, (_, model, is_list, allowed) in STREAM_MODELS.items():
        payload = inbox.by_stream[name][0]["data"]
        assert isinstance(payload, list) == is_list, name
        gaps = [
            gap
            for item in (payload if is_list else [payload])
            for gap in missing_keys(item, model, allowed=allowed)
        ]
        error = strict_errors(payload, model)
        if gaps or error:
            problems[name] = [*gaps, *([error] if error else [])]
    assert problems == {}
