"""Decoding real-shaped Binance payloads (BINANCE.md §3, §4, §7) into wire Structs and domain types."""

from __future__ import annotations

import msgspec
import pytest

from casino_tui.clock import ManualClock
from casino_tui.exchange.binance import codec, mapping
from casino_tui.exchange.binance.ratelimit import RateLimiter
from casino_tui.exchange.binance.resilience import CircuitBreaker, RetryPolicy
from casino_tui.exchange.binance.rest import BinanceRest, EndpointGroup
from casino_tui.exchange.binance.rules import announced_limits, rules_by_symbol
from casino_tui.exchange.binance.signing import Credentials, SecretFilter
from casino_tui.exchange.binance.userstream import KnownOrders, UserStream
from casino_tui.model import AccountUpdate, OrderStatus, OrderType, OrderUpdate, Side

ORDER_TRADE_UPDATE = b"""{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT",
"c":"TEST","S":"SELL","o":"TRAILING_STOP_MARKET","f":"GTC","q":"0.001","p":"0","ap":"0","sp":"7103.04","x":"NEW",
"X":"NEW","i":8886774,"l":"0","z":"0","L":"0","N":"USDT","n":"0","T":1568879465650,"t":0,"b":"0","a":"9.91",
"m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"TRAILING_STOP_MARKET","ps":"LONG","cp":false,"AP":"7476.89",
"cr":"5.0","pP":false,"si":0,"ss":0,"rp":"0","V":"EXPIRE_TAKER","pm":"OPPONENT","gtd":0}}"""

MARKET_FILL = b"""{"e":"ORDER_TRADE_UPDATE","E":1767225600100,"T":1767225600099,"o":{"s":"BTCUSDT",
"c":"cas-BTC-1-e","S":"BUY","o":"MARKET","f":"GTC","q":"0.005","p":"0","ap":"42000.10","sp":"0","x":"TRADE",
"X":"FILLED","i":4001,"l":"0.005","z":"0.005","L":"42000.10","N":"USDT","n":"0.08400020","T":1767225600099,
"t":77,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,
"rp":"0","pP":false,"si":0,"ss":0,"V":"EXPIRE_MAKER","pm":"NONE","gtd":0,"er":"0"}}"""

ALGO_TRIGGERED = b"""{"e":"ALGO_UPDATE","T":1765431097020,"E":1765431097021,"o":{"caid":"O-20251211-0001",
"aid":1000000033225453,"at":"CONDITIONAL","o":"STOP_MARKET","s":"DOGEUSDT","S":"BUY","ps":"BOTH","f":"GTC",
"q":"38","X":"TRIGGERED","ai":"88937381063","ap":"0","aq":"0","act":"MARKET","tp":"0.13855","p":"0",
"V":"EXPIRE_MAKER","wt":"CONTRACT_PRICE","pm":"NONE","cp":false,"pP":false,"R":true,"tt":1765431097019,"gtd":0}}"""

ACCOUNT_UPDATE = b"""{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"ORDER",
"B":[{"a":"USDT","wb":"122624.12345678","cw":"100.12345678","bc":"50.12345678"},
{"a":"BUSD","wb":"1.00000000","cw":"0.00000000","bc":"-49.12345678"}],
"P":[{"s":"BTCUSDT","pa":"0","ep":"0.00000","bep":"0","cr":"200","up":"0","mt":"isolated","iw":"0.00000000",
"ps":"BOTH"},{"s":"ETHUSDT","pa":"-20","ep":"6563.66500","bep":"6563.6","cr":"0","up":"2850.21200",
"mt":"isolated","iw":"13200.70726908","ps":"BOTH"}]}}"""

EXCHANGE_INFO = b"""{"timezone":"UTC","serverTime":1565246363776,"rateLimits":[
{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400},
{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200},
{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300}],"exchangeFilters":[],
"assets":[{"asset":"USDT","marginAvailable":true,"autoAssetExchange":"-10000"}],
"symbols":[{"symbol":"BLZUSDT","pair":"BLZUSDT","contractType":"PERPETUAL","deliveryDate":4133404800000,
"onboardDate":1598252400000,"status":"TRADING","maintMarginPercent":"2.5000","requiredMarginPercent":"5.0000",
"baseAsset":"BLZ","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":5,"quantityPrecision":0,
"baseAssetPrecision":8,"quotePrecision":8,"underlyingType":"COIN","underlyingSubType":["STORAGE"],"settlePlan":0,
"triggerProtect":"0.15","filters":[{"filterType":"PRICE_FILTER","maxPrice":"300","minPrice":"0.0001",
"tickSize":"0.0001"},{"filterType":"LOT_SIZE","maxQty":"10000000","minQty":"1","stepSize":"1"},
{"filterType":"MARKET_LOT_SIZE","maxQty":"590119","minQty":"1","stepSize":"1"},
{"filterType":"MAX_NUM_ORDERS","limit":200},{"filterType":"MIN_NOTIONAL","notional":"5.0"},
{"filterType":"PERCENT_PRICE","multiplierUp":"1.1500","multiplierDown":"0.8500","multiplierDecimal":4}],
"OrderType":["LIMIT","MARKET"],"timeInForce":["GTC","IOC","FOK","GTX"],"liquidationFee":"0.010000",
"marketTakeBound":"0.30"},
{"symbol":"BTCUSDT_260327","pair":"BTCUSDT","contractType":"CURRENT_QUARTER","status":"TRADING",
"baseAsset":"BTC","quoteAsset":"USDT","filters":[{"filterType":"PRICE_FILTER","maxPrice":"1","minPrice":"0",
"tickSize":"0.1"},{"filterType":"LOT_SIZE","maxQty":"1","minQty":"0.001","stepSize":"0.001"}]}]}"""

ORDER_ANSWER = b"""{"clientOrderId":"testOrder","cumQty":"0","cumQuote":"0","executedQty":"0","orderId":22542179,
"avgPrice":"0.00000","origQty":"10","price":"0","reduceOnly":false,"side":"BUY","positionSide":"SHORT",
"status":"NEW","stopPrice":"9300","closePosition":false,"symbol":"BTCUSDT","timeInForce":"GTD",
"type":"LIMIT","origType":"LIMIT","updateTime":1566818724722,"workingType":"CONTRACT_PRICE",
"priceProtect":false,"priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":1693207680000}"""

ALGO_ANSWER = b"""{"algoId":2146760,"clientAlgoId":"6B2I9XVcJpCjqPAJ4YoFX7","algoType":"CONDITIONAL",
"orderType":"TAKE_PROFIT_MARKET","symbol":"BNBUSDT","side":"SELL","positionSide":"BOTH","timeInForce":"GTC",
"quantity":"0.01","algoStatus":"NEW","triggerPrice":"750.000","price":"0.000","icebergQuantity":null,
"selfTradePreventionMode":"EXPIRE_MAKER","workingType":"MARK_PRICE","priceMatch":"NONE","closePosition":false,
"priceProtect":false,"reduceOnly":true,"activatePrice":"","callbackRate":"","createTime":1750485492076,
"updateTime":1750485492076,"triggerTime":0,"goodTillDate":0}"""

POSITION_RISK_V3 = b"""[{"symbol":"ADAUSDT","positionSide":"BOTH","positionAmt":"30","entryPrice":"0.385",
"breakEvenPrice":"0.385077","markPrice":"0.41047590","unRealizedProfit":"0.76427700","liquidationPrice":"0",
"isolatedMargin":"0","notional":"12.31427700","marginAsset":"USDT","isolatedWallet":"0",
"initialMargin":"0.61571385","maintMargin":"0.08004285","positionInitialMargin":"0.61571385",
"openOrderInitialMargin":"0","adl":2,"bidNotional":"0","askNotional":"0","updateTime":1720736417660}]"""

BALANCE_V2 = b"""[{"accountAlias":"SgsR","asset":"USDT","balance":"122607.35137903",
"crossWalletBalance":"23.72469206","crossUnPnl":"1.50000000","availableBalance":"23.72469206",
"maxWithdrawAmount":"23.72469206","marginAvailable":true,"updateTime":1617939110373}]"""

KLINES = b"""[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,
"2434.19055334",308,"1756.87402397","28.46694368","17928899.62484339"]]"""


class TestUserEvents:
    def test_order_trade_update_keeps_every_field_we_use(self) -> None:
        event = codec.ORDER_TRADE_DECODER.decode(ORDER_TRADE_UPDATE)
        o = event.order
        assert (o.symbol, o.client_id, o.side, o.order_type, o.status, o.order_id) == (
            "BTCUSDT",
            "TEST",
            "SELL",
            "TRAILING_STOP_MARKET",
            "NEW",
            8886774,
        )
        assert o.quantity == 0.001 and o.stop_price == 7103.04 and o.working_type == "CONTRACT_PRICE"
        assert event.event_ms == 1568879465651

    def test_market_fill_maps_to_a_filled_order_update(self) -> None:
        event = codec.ORDER_TRADE_DECODER.decode(MARKET_FILL)
        update = mapping.from_order_event(event.order, event.event_ms)
        assert update.status is OrderStatus.FILLED and update.type is OrderType.MARKET
        assert (update.filled_qty, update.avg_price, update.last_qty, update.last_price) == (
            0.005,
            42000.10,
            0.005,
            42000.10,
        )
        assert update.fee == pytest.approx(0.0840002) and update.order_id == "4001"
        assert update.ts_ms == 1767225600099 and not update.is_conditional

    def test_algo_update_maps_to_a_conditional_with_the_algo_ids(self) -> None:
        event = codec.ALGO_UPDATE_DECODER.decode(ALGO_TRIGGERED)
        update = mapping.from_algo_event(event.order, event.event_ms)
        assert update.is_conditional and update.status is OrderStatus.TRIGGERED
        assert (update.client_id, update.order_id) == ("O-20251211-0001", "1000000033225453")
        assert update.type is OrderType.STOP_MARKET and update.trigger_price == 0.13855
        assert update.reduce_only and update.quantity == 38.0
        assert event.order.actual_order_id == "88937381063"

    @pytest.mark.parametrize(
        "wire,filled,expected",
        [
            ("NEW", 0.0, OrderStatus.NEW),
            ("TRIGGERING", 0.0, OrderStatus.TRIGGERED),
            ("FINISHED", 38.0, OrderStatus.FILLED),
            ("FINISHED", 0.0, OrderStatus.EXPIRED),
            ("CANCELED", 0.0, OrderStatus.CANCELED),
            ("REJECTED", 0.0, OrderStatus.REJECTED),
        ],
    )
    def test_algo_statuses(self, wire: str, filled: float, expected: OrderStatus) -> None:
        assert mapping.algo_status(wire, filled) is expected

    def test_account_update_maps_balances_and_positions(self) -> None:
        update = mapping.from_account_event(codec.ACCOUNT_UPDATE_DECODER.decode(ACCOUNT_UPDATE))
        assert update.reason == "ORDER" and update.ts_ms == 1564745798938
        assert update.balances[0].asset == "USDT" and update.balances[0].wallet == 122624.12345678
        assert [(p.symbol, p.qty) for p in update.positions] == [("BTCUSDT", 0.0), ("ETHUSDT", -20.0)]
        assert update.positions[1].entry_price == 6563.665 and update.positions[1].unrealized_pnl == 2850.212

    def test_event_head_names_the_event(self) -> None:
        raw = b'{"e":"listenKeyExpired","E":1576653824250,"listenKey":"WsCMN0a4KHUPTQuX6IUnqEZfB1inxmv1qR4kbf1LuEjur5VdbzqvyxqG9TSjVVxv"}'
        assert codec.EVENT_HEAD_DECODER.decode(raw).event == "listenKeyExpired"
        assert codec.LISTEN_KEY_EXPIRED_DECODER.decode(raw).listen_key.startswith("WsCMN0a4")


class TestRestAnswers:
    def test_exchange_info_gives_rules_of_usdt_perpetuals_only(self) -> None:
        info = codec.decoder(codec.ExchangeInfo).decode(EXCHANGE_INFO)
        rules = rules_by_symbol(info)
        assert list(rules) == ["BLZUSDT"]
        blz = rules["BLZUSDT"]
        assert (blz.tick_size, blz.step_size, blz.min_qty, blz.max_qty) == ("0.0001", "1", "1", "10000000")
        assert (blz.min_notional, blz.market_max_qty, blz.base_asset, blz.status) == (
            "5.0",
            "590119",
            "BLZ",
            "TRADING",
        )
        assert blz.format_price(0.123456) == "0.1235" and blz.format_qty(12.9) == "12"
        assert announced_limits(info) == (2400, 300, 1200)

    def test_order_answer(self) -> None:
        update = mapping.from_order_answer(codec.decoder(codec.OrderAnswer).decode(ORDER_ANSWER))
        assert (update.client_id, update.order_id, update.side, update.status) == (
            "testOrder",
            "22542179",
            Side.BUY,
            OrderStatus.NEW,
        )
        assert update.quantity == 10.0 and update.ts_ms == 1566818724722

    def test_algo_answer_with_null_and_empty_fields(self) -> None:
        update = mapping.from_algo_answer(codec.decoder(codec.AlgoOrderAnswer).decode(ALGO_ANSWER))
        assert update.is_conditional and update.type is OrderType.TAKE_PROFIT_MARKET
        assert (update.client_id, update.order_id, update.trigger_price) == (
            "6B2I9XVcJpCjqPAJ4YoFX7",
            "2146760",
            750.0,
        )
        assert update.reduce_only and update.status is OrderStatus.NEW

    def test_algo_cancel_answer_has_a_string_code(self) -> None:
        raw = b'{"algoId":2146760,"clientAlgoId":"6B2I9XVcJpCjqPAJ4YoFX7","code":"200","msg":"success"}'
        answer = codec.decoder(codec.AlgoCancelAnswer).decode(raw)
        assert answer.algo_id == 2146760 and answer.code == "200"

    def test_position_risk_v3_and_balance(self) -> None:
        (row,) = codec.decoder(list[codec.PositionRisk]).decode(POSITION_RISK_V3)
        pos = mapping.from_position_risk(row)
        assert (pos.symbol, pos.qty, pos.entry_price, pos.mark_price) == ("ADAUSDT", 30.0, 0.385, 0.4104759)
        (bal_row,) = codec.decoder(list[codec.BalanceRow]).decode(BALANCE_V2)
        bal = mapping.from_balance_row(bal_row)
        assert (bal.asset, bal.wallet, bal.available, bal.unrealized_pnl) == (
            "USDT",
            122607.35137903,
            23.72469206,
            1.5,
        )

    def test_kline_rows(self) -> None:
        (row,) = codec.decoder(list[codec.KlineRow]).decode(KLINES)
        assert row[0] == 1499040000000 and row[1] == 0.0163479 and row[8] == 308

    def test_error_body(self) -> None:
        err = codec.ERROR_DECODER.decode(b'{"code":-2019,"msg":"Margin is insufficient."}')
        assert (err.code, err.msg) == (-2019, "Margin is insufficient.")

    def test_malformed_answer_raises_a_decode_error(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            codec.decoder(codec.OrderAnswer).decode(b'{"orderId":"not-a-number"}')


class _Collect:
    def __init__(self) -> None:
        self.orders: list[OrderUpdate] = []
        self.accounts: list[AccountUpdate] = []

    def on_order_update(self, update: OrderUpdate) -> None:
        self.orders.append(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        self.accounts.append(update)


def _algo(status: str, ai: str = "", aq: str = "0", ap: str = "0") -> bytes:
    return (
        '{"e":"ALGO_UPDATE","T":1767225601000,"E":1767225601000,"o":{"caid":"cas-BTC-1-sl","aid":9001,'
        '"at":"CONDITIONAL","o":"STOP_MARKET","s":"BTCUSDT","S":"SELL","ps":"BOTH","f":"GTC","q":"0.005",'
        f'"X":"{status}","ai":"{ai}","ap":"{ap}","aq":"{aq}","act":"MARKET","tp":"41000.0","p":"0",'
        '"wt":"MARK_PRICE","cp":false,"R":true,"tt":0,"gtd":0}}'
    ).encode()


def _child(status: str, client_id: str = "child-x1", filled: str = "0.005") -> bytes:
    return (
        '{"e":"ORDER_TRADE_UPDATE","E":1767225601001,"T":1767225601001,"o":{"s":"BTCUSDT",'
        f'"c":"{client_id}","S":"SELL","o":"MARKET","f":"GTC","q":"0.005","p":"0","ap":"40990.5","sp":"41000.0",'
        f'"x":"TRADE","X":"{status}","i":5005,"l":"{filled}","z":"{filled}","L":"40990.5","n":"0.08","T":1767225601001,'
        '"t":1,"m":false,"R":true,"wt":"MARK_PRICE","ot":"STOP_MARKET","ps":"BOTH","cp":false,"rp":"-5.0"}}'
    ).encode()


@pytest.fixture
async def user_stream():
    clock = ManualClock()
    breakers = {g: CircuitBreaker(g.value, clock) for g in EndpointGroup}
    rest = BinanceRest(
        "http://127.0.0.1:9", Credentials("k", "s"), clock, RateLimiter(clock.now_ms), breakers
    )
    sink = _Collect()
    stream = UserStream(
        rest,
        "ws://127.0.0.1:9",
        sink,
        KnownOrders(),
        lambda: None,
        lambda c, r: None,
        RetryPolicy(),
        SecretFilter(),
    )
    yield stream, sink
    await rest.close()


class TestUserStreamDispatch:
    async def test_child_fill_before_triggered_is_reported_under_the_conditional(self, user_stream) -> None:
        stream, sink = user_stream
        for frame in (
            _algo("NEW"),
            _child("FILLED"),
            _algo("TRIGGERED", ai="5005"),
            _algo("FINISHED", "5005", "0.005"),
        ):
            stream._on_frame(frame)
        assert [(u.client_id, u.status) for u in sink.orders] == [
            ("cas-BTC-1-sl", OrderStatus.NEW),
            ("cas-BTC-1-sl", OrderStatus.FILLED),
        ]
        fill = sink.orders[1]
        assert fill.is_conditional and fill.order_id == "9001" and fill.avg_price == 40990.5
        assert fill.last_qty == 0.005 and fill.realized_pnl == -5.0 and fill.type is OrderType.STOP_MARKET

    async def test_child_fill_after_triggered_is_linked_by_order_id(self, user_stream) -> None:
        stream, sink = user_stream
        for frame in (
            _algo("NEW"),
            _algo("TRIGGERED", ai="5005"),
            _child("FILLED", client_id="unrelated-id"),
        ):
            stream._on_frame(frame)
        assert [u.status for u in sink.orders] == [OrderStatus.NEW, OrderStatus.TRIGGERED, OrderStatus.FILLED]
        assert sink.orders[-1].client_id == "cas-BTC-1-sl"

    async def test_finished_without_a_child_event_reports_the_fill(self, user_stream) -> None:
        stream, sink = user_stream
        for frame in (
            _algo("NEW"),
            _algo("TRIGGERED", ai="5005"),
            _algo("FINISHED", "5005", "0.005", "40990.5"),
        ):
            stream._on_frame(frame)
        last = sink.orders[-1]
        assert last.status is OrderStatus.FILLED and last.filled_qty == 0.005 and last.avg_price == 40990.5

    async def test_account_update_and_unknown_events_reach_the_right_place(self, user_stream) -> None:
        stream, sink = user_stream
        stream._on_frame(ACCOUNT_UPDATE)
        stream._on_frame(b'{"e":"TRADE_LITE","E":1,"T":1,"s":"BTCUSDT"}')
        stream._on_frame(b"not json")
        assert len(sink.accounts) == 1 and sink.orders == [] and stream.bad_frames == 1

    async def test_repeats_are_dropped(self, user_stream) -> None:
        stream, sink = user_stream
        stream._on_frame(MARKET_FILL)
        stream._on_frame(MARKET_FILL)
        assert len(sink.orders) == 1
