"""SimExchange behind the Exchange protocol: pumping with a ManualClock, event delivery, a full bracket."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from casino_tui.clock import ManualClock, SimClock
from casino_tui.config import DEFAULT_SYMBOLS, SimConfig
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import (
    AccountUpdate,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    Trade,
)
from casino_tui.port import Exchange, OrderNotFoundError, RejectedError

START = 1_767_225_600_000
SYMBOLS = list(DEFAULT_SYMBOLS)


class RecordingSink:
    """Market and user sink that keeps everything it receives, in order."""

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self.marks: list[tuple[str, float, int]] = []
        self.status: list[tuple[str, bool, str]] = []
        self.user: list[OrderUpdate | AccountUpdate] = []

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.marks.append((symbol, price, ts_ms))

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        self.status.append((stream, connected, reason))

    def on_order_update(self, update: OrderUpdate) -> None:
        self.user.append(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        self.user.append(update)

    def orders(self) -> list[tuple[str, OrderStatus]]:
        return [(u.client_id, u.status) for u in self.user if isinstance(u, OrderUpdate)]


@pytest.fixture
async def sim() -> tuple[SimExchange, ManualClock, RecordingSink]:
    clock = ManualClock(START)
    exchange = SimExchange(SimConfig(seed=7), SYMBOLS, clock)
    sink = RecordingSink()
    exchange.set_sinks(sink, sink)
    await exchange.start(SYMBOLS)
    return exchange, clock, sink


def test_sim_exchange_has_every_method_of_the_protocol_with_its_signature() -> None:
    exchange = SimExchange(SimConfig(), SYMBOLS, ManualClock(START))
    assert (exchange.name, exchange.is_live) == ("sim", False)
    for name, member in inspect.getmembers(Exchange, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(exchange, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters)[1:], (
            name
        )
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(member), name


def test_unknown_symbol_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="unknown symbol: FOOUSDT"):
        SimExchange(SimConfig(), ["BTCUSDT", "FOOUSDT"], ManualClock(START))


async def test_start_with_a_manual_clock_runs_nothing_by_itself(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, _, sink = sim
    assert not exchange.autorun
    await asyncio.sleep(0)
    assert sink.trades == [] and sink.status == [("market", True, "sim"), ("user", True, "sim")]
    assert exchange.pump() == 0  # the clock has not moved


async def test_pump_delivers_the_trades_and_marks_up_to_the_clock(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, clock, sink = sim
    clock.advance(10_000)
    delivered = exchange.pump()
    assert delivered == len(sink.trades) > 0
    assert {t.symbol for t in sink.trades} == set(SYMBOLS)
    assert all(START <= t.ts_ms <= START + 10_000 for t in sink.trades)
    assert {m[0] for m in sink.marks} == set(SYMBOLS) and sink.marks[-1][2] == START + 10_000
    tickers = await exchange.tickers()
    last_btc = [t for t in sink.trades if t.symbol == "BTCUSDT"][-1]
    assert tickers["BTCUSDT"] == last_btc.price
    exchange.pump(START + 12_000)  # an explicit bound need not follow the clock
    assert sink.trades[-1].ts_ms <= START + 12_000


async def test_streams_only_the_started_symbols() -> None:
    clock = ManualClock(START)
    exchange = SimExchange(SimConfig(), SYMBOLS, clock)
    sink = RecordingSink()
    exchange.set_sinks(sink, sink)
    await exchange.start(["BTCUSDT", "ETHUSDT"])
    clock.advance(5_000)
    exchange.pump()
    assert {t.symbol for t in sink.trades} == {"BTCUSDT", "ETHUSDT"}
    with pytest.raises(ValueError, match="unknown symbol: FOOUSDT"):
        await exchange.start(["FOOUSDT"])


async def test_place_order_answer_comes_before_the_stream_events(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, clock, sink = sim
    clock.advance(2_000)
    exchange.pump()
    ack = await exchange.place_order(OrderRequest("ETHUSDT", Side.BUY, OrderType.MARKET, 0.1, "entry-1"))
    assert ack.status is OrderStatus.FILLED and ack.filled_qty == 0.1
    assert sink.user == []  # queued with call_soon, not yet delivered
    await asyncio.sleep(0)  # one loop turn runs the scheduled delivery
    assert sink.orders() == [("entry-1", OrderStatus.NEW), ("entry-1", OrderStatus.FILLED)]
    assert isinstance(sink.user[-1], AccountUpdate) and sink.user[-1].positions[0].qty == 0.1


async def test_rejections_and_unknown_orders(sim: tuple[SimExchange, ManualClock, RecordingSink]) -> None:
    exchange, _, sink = sim
    with pytest.raises(RejectedError) as info:
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.0001, "tiny"))
    assert info.value.code == -1111
    assert await exchange.get_order("BTCUSDT", "never", conditional=False) is None
    with pytest.raises(OrderNotFoundError):
        await exchange.cancel_order("BTCUSDT", "never", conditional=True)
    exchange.flush_events()
    assert sink.user == []


async def test_bracket_entry_then_one_leg_triggers_and_the_other_expires(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, clock, sink = sim
    clock.advance(1_000)
    exchange.pump()
    entry = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.01, "b1-entry"))
    rules = (await exchange.symbol_rules())["BTCUSDT"]
    tp = rules.snap_price(entry.avg_price * 1.0015)
    sl = rules.snap_price(entry.avg_price * 0.9985)
    for cid, kind, trigger in (
        ("b1-tp", OrderType.TAKE_PROFIT_MARKET, tp),
        ("b1-sl", OrderType.STOP_MARKET, sl),
    ):
        await exchange.place_order(
            OrderRequest("BTCUSDT", Side.SELL, kind, 0.0, cid, close_position=True, trigger_price=trigger)
        )
    opened = await exchange.open_orders("BTCUSDT")
    assert {(o.client_id, o.is_conditional) for o in opened} == {("b1-tp", True), ("b1-sl", True)}
    assert (await exchange.positions())[0].qty == 0.01
    for _ in range(6 * 3600):  # at most six simulated hours, one second at a time
        clock.advance(1_000)
        exchange.pump()
        if not await exchange.positions():
            break
    exchange.flush_events()
    assert await exchange.positions() == []
    assert await exchange.open_orders() == []
    legs = {cid: (await exchange.get_order("BTCUSDT", cid, conditional=True)) for cid in ("b1-tp", "b1-sl")}
    statuses = sorted(leg.status for leg in legs.values() if leg is not None)
    assert statuses == [OrderStatus.EXPIRED, OrderStatus.FILLED]
    winner = next(leg for leg in legs.values() if leg is not None and leg.status is OrderStatus.FILLED)
    loser = ({"b1-tp", "b1-sl"} - {winner.client_id}).pop()
    assert sink.orders()[-3:] == [
        (winner.client_id, OrderStatus.TRIGGERED),
        (winner.client_id, OrderStatus.FILLED),
        (loser, OrderStatus.EXPIRED),
    ]
    balance = await exchange.balance()
    assert balance.wallet == pytest.approx(10_000.0 + winner.realized_pnl - entry.fee - winner.fee)
    assert balance.unrealized_pnl == 0.0 and balance.available == balance.wallet


async def test_positions_and_balance_report_mark_and_unrealised_pnl(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, clock, _ = sim
    await exchange.place_order(OrderRequest("SOLUSDT", Side.SELL, OrderType.MARKET, 3.0, "short"))
    clock.advance(120_000)
    exchange.pump()
    (position,) = await exchange.positions()
    mark = exchange.market.mark_price("SOLUSDT")
    assert position.symbol == "SOLUSDT" and position.qty == -3.0 and position.mark_price == mark
    assert position.unrealized_pnl == pytest.approx((mark - position.entry_price) * -3.0)
    assert (await exchange.balance()).unrealized_pnl == pytest.approx(position.unrealized_pnl)


async def test_health_counts_orders_in_the_last_ten_seconds_and_minute(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, clock, _ = sim
    for i in range(3):
        await exchange.place_order(OrderRequest("ETHUSDT", Side.BUY, OrderType.MARKET, 0.01, f"h{i}"))
    clock.advance(15_000)
    await exchange.place_order(OrderRequest("ETHUSDT", Side.SELL, OrderType.MARKET, 0.01, "h3"))
    health = exchange.health()
    assert (health.order_count_10s, health.order_count_1m, health.breakers, health.errors) == (1, 4, (), 0)
    clock.advance(60_000)
    assert exchange.health().order_count_1m == 0


async def test_injected_position_is_reported_without_any_event(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, _, sink = sim
    exchange.inject_position("LINKUSDT", 12.5, 21.0)
    exchange.flush_events()
    assert sink.user == []
    assert [(p.symbol, p.qty, p.entry_price) for p in await exchange.positions()] == [
        ("LINKUSDT", 12.5, 21.0)
    ]


async def test_klines_and_server_time_follow_the_clock(
    sim: tuple[SimExchange, ManualClock, RecordingSink],
) -> None:
    exchange, clock, _ = sim
    assert await exchange.server_time_ms() == START
    warmup = await exchange.klines("ADAUSDT", "15m", 100)
    assert len(warmup) == 100 and warmup[-1].open_ms == START - 900_000
    clock.advance(16 * 60_000)
    exchange.pump()
    latest = await exchange.klines("ADAUSDT", "15m", 2)
    assert [k.open_ms for k in latest] == [START - 900_000, START]


async def test_autorun_pumps_with_a_running_clock_and_stops_cleanly() -> None:
    exchange = SimExchange(SimConfig(), ["BTCUSDT"], SimClock(START, speed=120.0), pump_interval_s=0.01)
    sink = RecordingSink()
    exchange.set_sinks(sink, sink)
    await exchange.start(["BTCUSDT"])
    assert exchange.autorun
    for _ in range(2_000):  # generous deadline: wait on the condition, not on time
        if len(sink.trades) >= 5 and sink.marks:
            break
        await asyncio.sleep(0.01)
    await exchange.stop()
    assert len(sink.trades) >= 5 and sink.marks
    assert sink.status[-1] == ("user", False, "stopped")
    delivered = len(sink.trades)
    await asyncio.sleep(0)
    assert len(sink.trades) == delivered
