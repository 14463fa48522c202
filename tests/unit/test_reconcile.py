"""Reconcile against the simulated exchange: every kind of difference is set up by driving real brackets and
then changing the exchange behind the croupier's back; apply=False changes nothing, apply=True fixes it, the
follow-up reconcile is clean and the applied actions are journaled."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest

from casino_tui.clock import ManualClock
from casino_tui.config import SimConfig, TradingConfig
from casino_tui.control import ReconcileReport
from casino_tui.engine.brackets.machine import Bracket, Leg, bracket_id, client_id
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.executor import OrderExecutor
from casino_tui.engine.journal import Journal
from casino_tui.engine.reconcile import reconcile, resolve_unacked
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import (
    AccountUpdate,
    BracketState,
    CloseReason,
    Decision,
    JournalKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    Trade,
)
from casino_tui.port import RejectedError

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
TRADED = ["BTCUSDT", "ETHUSDT"]  # SOLUSDT exists on the exchange but the session does not trade it


class StubbornSim(SimExchange):
    """The sim, except that it refuses to cancel the client ids in `refuse_cancel`, refuses reduce-only
    market orders on the symbols in `refuse_close` and stop-losses on the symbols in `refuse_stop` (a failing
    exchange for the failure paths)."""

    refuse_cancel: set[str]
    refuse_close: set[str]
    refuse_stop: set[str]

    async def cancel_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        if client_id in self.refuse_cancel:
            raise RejectedError("cancel refused", -1000)
        return await super().cancel_order(symbol, client_id, conditional)

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        if request.reduce_only and request.symbol in self.refuse_close:
            raise RejectedError("ReduceOnly Order is rejected.", -2022)
        if request.type is OrderType.STOP_MARKET and request.symbol in self.refuse_stop:
            raise RejectedError("Order would immediately trigger.", -2021)
        return await super().place_order(request)


class Relay:
    """The exchange's sinks: forwards to the current croupier unless `deaf` (the croupier is 'down')."""

    def __init__(self) -> None:
        self.croupier: Croupier | None = None
        self.deaf = False
        self.delivered = 0

    def on_trade(self, trade: Trade) -> None:
        pass

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        if self.croupier is not None and not self.deaf:
            self.croupier.on_mark(symbol, price)

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        pass

    def on_order_update(self, update: OrderUpdate) -> None:
        self.delivered += 1
        if self.croupier is not None and not self.deaf:
            self.croupier.on_order_update(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        self.delivered += 1
        if self.croupier is not None and not self.deaf:
            self.croupier.on_account_update(update)


class World:
    """A SimExchange (ManualClock, no autorun), a journal and a croupier wired to it."""

    def __init__(self, sim: StubbornSim, clock: ManualClock, journal: Journal, config: TradingConfig) -> None:
        self.sim, self.clock, self.journal, self.config = sim, clock, journal, config
        self.relay = Relay()
        sim.set_sinks(self.relay, self.relay)
        self.croupier = self.new_croupier()

    def new_croupier(self, restored: list[Bracket] | None = None) -> Croupier:
        """A fresh croupier, as after a restart, taking back `restored` brackets; it becomes the sink."""
        rules = {s: self.sim.market.rules[s] for s in TRADED}
        executor = OrderExecutor(self.sim, self.clock, self.journal, backoff_s=0.001, max_backoff_s=0.005)
        croupier = Croupier(self.sim, rules, self.config, self.clock, self.journal, executor=executor)
        if restored:
            croupier.restore(restored)
        self.croupier = croupier
        self.relay.croupier = croupier
        return croupier

    async def settle(self) -> None:
        """Deliver the exchange's events and wait for the croupier's work until both are quiet."""
        for _ in range(100):
            before = self.relay.delivered
            self.sim.flush_events()
            await self.croupier.wait_idle()
            if self.relay.delivered == before:
                return
        raise AssertionError("exchange events and croupier work did not settle")

    @contextlib.asynccontextmanager
    async def behind_the_back(self) -> AsyncIterator[None]:
        """Whatever happens inside never reaches the croupier (as if it were down)."""
        await self.settle()
        self.relay.deaf = True
        try:
            yield
        finally:
            self.sim.flush_events()
            self.relay.deaf = False

    async def place_by_hand(self, *requests: OrderRequest) -> None:
        """Orders sent straight to the exchange by someone else; their events never reach the croupier."""
        async with self.behind_the_back():
            for request in requests:
                self.sim.matching.place(request)

    async def price(self, symbol: str) -> float:
        return (await self.sim.tickers())[symbol]

    async def open_protected(self, symbol: str = "BTCUSDT", side: Side = Side.BUY) -> Bracket:
        decision = Decision(symbol=symbol, side=side, score=0.5 * side.sign, ts_ms=self.clock.now_ms())
        bracket = await self.croupier.open_bracket(decision, await self.price(symbol))
        await self.settle()
        assert bracket is not None and bracket.state is BracketState.PROTECTED, bracket
        return bracket

    async def reconcile(self, apply: bool = False) -> ReconcileReport:
        report = await reconcile(self.sim, self.croupier, self.clock, apply=apply, journal=self.journal)
        await self.settle()
        return report

    async def exchange_state(self) -> tuple[object, ...]:
        orders = sorted((o.client_id, o.status, o.quantity) for o in await self.sim.open_orders())
        positions = sorted((p.symbol, p.qty, p.entry_price) for p in await self.sim.positions())
        return tuple(orders), tuple(positions)

    def local_state(self) -> tuple[object, ...]:
        return tuple(msgspec.json.encode(b) for b in self.croupier.brackets)

    async def legs(self, symbol: str) -> dict[OrderType, list[str]]:
        found: dict[OrderType, list[str]] = {}
        for order in await self.sim.open_orders(symbol):
            found.setdefault(order.type, []).append(order.client_id)
        return found

    def journaled(self) -> list[dict]:
        self.journal.flush()
        return [e.payload for e in self.journal.read() if e.kind is JournalKind.RECONCILE]


@pytest.fixture
async def make_world(tmp_path):
    worlds: list[World] = []

    async def make(pct: float = 0.01, seed: int = 11) -> World:
        clock = ManualClock()
        sim = StubbornSim(SimConfig(seed=seed), SYMBOLS, clock, autorun=False)
        sim.refuse_cancel, sim.refuse_close, sim.refuse_stop = set(), set(), set()
        journal = Journal(tmp_path / f"journal-{len(worlds)}.db", clock.now_ms)
        config = TradingConfig(notional_usdt=500.0, take_profit_pct=pct, stop_loss_pct=pct)
        world = World(sim, clock, journal, config)
        await sim.start(SYMBOLS)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.journal.close()


@pytest.fixture
async def world(make_world) -> World:
    return await make_world()


def kinds(report: ReconcileReport) -> list[tuple[str, str, str]]:
    return sorted((i.kind, i.symbol, i.action) for i in report.items)


def copies(brackets) -> list[Bracket]:
    """Brackets as a state snapshot gives them back after a restart."""
    return [msgspec.json.decode(msgspec.json.encode(b), type=Bracket) for b in brackets]


async def assert_diff_changes_nothing(world: World, expected: list[tuple[str, str, str]]) -> ReconcileReport:
    exchange_before, local_before = await world.exchange_state(), world.local_state()
    report = await world.reconcile(apply=False)
    assert kinds(report) == expected, report.items
    assert all(item.detail == "" for item in report.items)
    assert await world.exchange_state() == exchange_before, "apply=False must not touch the exchange"
    assert world.local_state() == local_before, "apply=False must not touch the brackets"
    assert world.journaled() == [], "apply=False journals nothing"
    return report


async def apply_and_check_clean(world: World, expected: list[tuple[str, str, str]]) -> ReconcileReport:
    report = await world.reconcile(apply=True)
    assert kinds(report) == expected
    assert [i.detail for i in report.items] == ["ok"] * len(report.items), report.items
    journaled = sorted((p["kind"], p["symbol"], p["action"], p["detail"]) for p in world.journaled())
    assert journaled == sorted((*k, "ok") for k in expected), "every applied action is journaled"
    again = await world.reconcile(apply=False)
    assert again.is_clean, f"a reconcile right after an applied one found {again.items}"
    return report


# -- tests --------------------------------------------------------------------------------------------------


async def test_matching_state_is_clean_and_the_report_counts_the_exchange(world: World) -> None:
    await world.open_protected("BTCUSDT")
    await world.open_protected("ETHUSDT", Side.SELL)
    report = await world.reconcile(apply=True)
    assert report.is_clean, report.items
    assert (report.positions, report.open_orders, report.open_conditional_orders) == (2, 0, 4)
    assert report.balance == pytest.approx((await world.sim.balance()).wallet)
    assert report.ts_ms == world.clock.now_ms()
    assert world.journaled() == []


async def test_naked_position_gets_its_stop_back_with_a_new_client_id(world: World) -> None:
    bracket = await world.open_protected("BTCUSDT")
    old_sl, tp = bracket.sl_client_id, bracket.tp_client_id
    async with world.behind_the_back():
        world.sim.matching.cancel("BTCUSDT", old_sl, True)

    report = await assert_diff_changes_nothing(world, [("NAKED_POSITION", "BTCUSDT", "PROTECT")])
    assert "no stop-loss" in report.items[0].exchange and bracket.id in report.items[0].local

    await apply_and_check_clean(world, [("NAKED_POSITION", "BTCUSDT", "PROTECT")])
    assert bracket.state is BracketState.PROTECTED and bracket.is_protected
    assert bracket.sl_client_id == client_id(bracket.seq, Leg.SL, 1, "BTCUSDT") != old_sl
    assert bracket.tp_client_id == tp, "the live TP is kept"
    legs = await world.legs("BTCUSDT")
    assert legs == {OrderType.STOP_MARKET: [bracket.sl_client_id], OrderType.TAKE_PROFIT_MARKET: [tp]}


async def test_unknown_position_is_adopted_into_a_new_protected_bracket(world: World) -> None:
    await world.open_protected("BTCUSDT")
    price = await world.price("ETHUSDT")
    world.sim.inject_position("ETHUSDT", -0.5, price)
    seq = world.croupier.next_bracket_seq

    report = await assert_diff_changes_nothing(world, [("UNKNOWN_POSITION", "ETHUSDT", "ADOPT")])
    assert "SHORT 0.5" in report.items[0].exchange and report.items[0].local == "no bracket"

    await apply_and_check_clean(world, [("UNKNOWN_POSITION", "ETHUSDT", "ADOPT")])
    bracket = world.croupier.book.bracket_for("ETHUSDT")
    assert bracket is not None and bracket.state is BracketState.PROTECTED
    assert (bracket.id, bracket.side, bracket.qty, bracket.entry_price) == (
        bracket_id(seq),
        Side.SELL,
        0.5,
        price,
    )
    rules = world.sim.market.rules["ETHUSDT"]
    assert bracket.tp_price == rules.snap_price(price * 0.99) and bracket.sl_price == rules.snap_price(
        price * 1.01
    )
    assert world.croupier.next_bracket_seq == seq + 1, "the persisted counter moves on"
    legs = await world.legs("ETHUSDT")
    assert legs == {
        OrderType.STOP_MARKET: [bracket.sl_client_id],
        OrderType.TAKE_PROFIT_MARKET: [bracket.tp_client_id],
    }
    assert world.croupier.tracker.qty("ETHUSDT") == -0.5, "the tracker takes the exchange's position"


async def test_adopting_cancels_the_positions_foreign_conditional_orders_first(world: World) -> None:
    price = await world.price("BTCUSDT")
    rules = world.sim.market.rules["BTCUSDT"]
    world.sim.inject_position("BTCUSDT", 0.01, price)
    await world.place_by_hand(
        *(
            OrderRequest(
                "BTCUSDT",
                Side.SELL,
                kind,
                0.01,
                cid,
                close_position=True,
                trigger_price=rules.snap_price(trigger),
            )
            for cid, kind, trigger in (
                ("manual-sl", OrderType.STOP_MARKET, price * 0.9),
                ("manual-tp", OrderType.TAKE_PROFIT_MARKET, price * 1.1),
            )
        )
    )
    expected = [
        ("ORPHAN_ORDER", "BTCUSDT", "CANCEL"),
        ("ORPHAN_ORDER", "BTCUSDT", "CANCEL"),
        ("UNKNOWN_POSITION", "BTCUSDT", "ADOPT"),
    ]
    report = await assert_diff_changes_nothing(world, expected)
    adopt = next(i for i in report.items if i.kind == "UNKNOWN_POSITION")
    assert "1 stop(s) live" in adopt.exchange

    await apply_and_check_clean(world, expected)
    bracket = world.croupier.book.bracket_for("BTCUSDT")
    assert bracket is not None and bracket.is_protected
    legs = await world.legs("BTCUSDT")
    assert legs == {
        OrderType.STOP_MARKET: [bracket.sl_client_id],
        OrderType.TAKE_PROFIT_MARKET: [bracket.tp_client_id],
    }, "exactly one SL and one TP: ours"
    for cid in ("manual-sl", "manual-tp"):
        found = await world.sim.get_order("BTCUSDT", cid, True)
        assert found is not None and found.status is OrderStatus.CANCELED


async def test_position_in_a_symbol_the_session_does_not_trade_is_adopted_with_fetched_rules(
    world: World,
) -> None:
    world.sim.inject_position("SOLUSDT", 3.0, await world.price("SOLUSDT"))
    assert "SOLUSDT" not in world.croupier.rules
    await assert_diff_changes_nothing(world, [("UNKNOWN_POSITION", "SOLUSDT", "ADOPT")])
    await apply_and_check_clean(world, [("UNKNOWN_POSITION", "SOLUSDT", "ADOPT")])
    bracket = world.croupier.book.bracket_for("SOLUSDT")
    assert bracket is not None and bracket.is_protected and "SOLUSDT" in world.croupier.rules


async def test_protective_order_left_after_the_position_closed_is_cancelled(world: World) -> None:
    price = await world.price("ETHUSDT")
    rules = world.sim.market.rules["ETHUSDT"]
    world.sim.inject_position("ETHUSDT", 0.5, price)
    stop = OrderRequest(
        "ETHUSDT", Side.SELL, OrderType.STOP_MARKET, 0.5, "hand-stop", reduce_only=True,
        trigger_price=rules.snap_price(price * 0.95),
    )  # fmt: skip
    close = OrderRequest("ETHUSDT", Side.SELL, OrderType.MARKET, 0.5, "hand-close", reduce_only=True)
    limit = OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, 0.003, "hand-limit", price=50_000.0)
    await world.place_by_hand(stop, close, limit)
    assert await world.sim.positions() == []

    report = await assert_diff_changes_nothing(
        world, [("ORPHAN_ORDER", "BTCUSDT", "CANCEL"), ("ORPHAN_ORDER", "ETHUSDT", "CANCEL")]
    )
    assert (report.open_orders, report.open_conditional_orders) == (1, 1)
    assert any("hand-stop" in i.exchange and "STOP_MARKET" in i.exchange for i in report.items)

    await apply_and_check_clean(
        world, [("ORPHAN_ORDER", "BTCUSDT", "CANCEL"), ("ORPHAN_ORDER", "ETHUSDT", "CANCEL")]
    )
    assert await world.sim.open_orders() == []


async def test_old_generation_leg_of_a_live_bracket_is_an_orphan(world: World) -> None:
    bracket = await world.open_protected("BTCUSDT")
    rules = world.sim.market.rules["BTCUSDT"]
    stale = client_id(bracket.seq, Leg.SL, 7, "BTCUSDT")
    await world.place_by_hand(
        OrderRequest(
            "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, bracket.qty, stale, reduce_only=True,
            trigger_price=rules.snap_price(bracket.entry_price * 0.9),
        )
    )  # fmt: skip
    report = await assert_diff_changes_nothing(world, [("ORPHAN_ORDER", "BTCUSDT", "CANCEL")])
    assert report.items[0].local == f"an old leg of {bracket.id}"
    await apply_and_check_clean(world, [("ORPHAN_ORDER", "BTCUSDT", "CANCEL")])
    assert bracket.is_protected and len(await world.sim.open_orders("BTCUSDT")) == 2


async def test_bracket_whose_leg_fired_while_down_is_closed_with_the_legs_reason(make_world) -> None:
    world = await make_world(pct=0.002)
    bracket = await world.open_protected("ETHUSDT")
    async with world.behind_the_back():
        for _ in range(20_000):  # at most ~28 simulated hours in 5 s steps
            if not await world.sim.positions():
                break
            world.clock.advance(5_000)
            world.sim.pump()
    assert await world.sim.positions() == [] and bracket.state is BracketState.PROTECTED
    tp = await world.sim.get_order("ETHUSDT", bracket.tp_client_id, True)
    assert tp is not None
    reason = CloseReason.TP if tp.status is OrderStatus.FILLED else CloseReason.SL
    fired = await world.sim.get_order(
        "ETHUSDT", bracket.tp_client_id if reason is CloseReason.TP else bracket.sl_client_id, True
    )
    assert fired is not None and fired.status is OrderStatus.FILLED

    report = await assert_diff_changes_nothing(world, [("VANISHED_BRACKET", "ETHUSDT", "MARK_CLOSED")])
    assert report.items[0].exchange.startswith(f"flat; {fired.client_id} filled")

    await apply_and_check_clean(world, [("VANISHED_BRACKET", "ETHUSDT", "MARK_CLOSED")])
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, reason)
    assert bracket.exit_price == fired.avg_price
    assert bracket.realized_pnl == pytest.approx((fired.avg_price - bracket.entry_price) * bracket.qty)
    assert (bracket.realized_pnl > 0) == (reason is CloseReason.TP)
    assert world.croupier.open_count == 0 and await world.sim.open_orders() == []


async def test_position_gone_without_a_leg_fill_closes_reconciled_and_cancels_the_leftover_legs(
    world: World,
) -> None:
    bracket = await world.open_protected("BTCUSDT", Side.SELL)
    async with world.behind_the_back():
        world.sim.inject_position("BTCUSDT", 0.0, 0.0)  # gone, and the legs stay behind
    assert len(await world.sim.open_orders("BTCUSDT")) == 2

    await assert_diff_changes_nothing(world, [("VANISHED_BRACKET", "BTCUSDT", "MARK_CLOSED")])
    await apply_and_check_clean(world, [("VANISHED_BRACKET", "BTCUSDT", "MARK_CLOSED")])
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.RECONCILED)
    assert await world.sim.open_orders() == [], "the leftover legs are cancelled"
    for cid in (bracket.tp_client_id, bracket.sl_client_id):
        found = await world.sim.get_order("BTCUSDT", cid, True)
        assert found is not None and found.status is OrderStatus.CANCELED


async def test_restored_bracket_whose_position_was_closed_by_hand_is_marked_closed(world: World) -> None:
    bracket = await world.open_protected("ETHUSDT")
    saved = copies(world.croupier.brackets)
    # The process is down; someone closes the position by hand (the close-position legs expire with it).
    await world.place_by_hand(
        OrderRequest("ETHUSDT", Side.SELL, OrderType.MARKET, bracket.qty, "by-hand", reduce_only=True)
    )
    croupier = world.new_croupier(saved)
    (restored,) = croupier.book.active

    await assert_diff_changes_nothing(world, [("VANISHED_BRACKET", "ETHUSDT", "MARK_CLOSED")])
    await apply_and_check_clean(world, [("VANISHED_BRACKET", "ETHUSDT", "MARK_CLOSED")])
    assert (restored.state, restored.close_reason) == (BracketState.CLOSED, CloseReason.RECONCILED)
    assert croupier.open_count == 0 and croupier.next_bracket_seq == restored.seq + 1


def pending(world: World, symbol: str, seq: int, qty: float) -> Bracket:
    return Bracket(
        id=bracket_id(seq),
        seq=seq,
        symbol=symbol,
        side=Side.BUY,
        qty=qty,
        entry_client_id=client_id(seq, Leg.ENTRY, 0, symbol),
        created_ms=world.clock.now_ms(),
    )


async def test_pending_entry_unknown_to_the_exchange_is_closed_reconciled(world: World) -> None:
    bracket = pending(world, "BTCUSDT", 5, 0.005)
    world.new_croupier([bracket])

    report = await assert_diff_changes_nothing(world, [("VANISHED_BRACKET", "BTCUSDT", "MARK_CLOSED")])
    assert "unknown to the exchange" in report.items[0].exchange
    await apply_and_check_clean(world, [("VANISHED_BRACKET", "BTCUSDT", "MARK_CLOSED")])
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.RECONCILED)
    assert await world.sim.get_order("BTCUSDT", bracket.entry_client_id, False) is None, "never sent"


async def test_pending_entry_found_filled_is_protected(world: World) -> None:
    bracket = pending(world, "ETHUSDT", 9, 0.1)
    # The entry went through, but the process died before it heard so.
    await world.place_by_hand(
        OrderRequest("ETHUSDT", Side.BUY, OrderType.MARKET, 0.1, bracket.entry_client_id)
    )
    world.new_croupier([bracket])
    fill = await world.sim.get_order("ETHUSDT", bracket.entry_client_id, False)
    assert fill is not None and fill.status is OrderStatus.FILLED

    report = await assert_diff_changes_nothing(world, [("NAKED_POSITION", "ETHUSDT", "PROTECT")])
    assert "entry filled 0.1" in report.items[0].exchange
    await apply_and_check_clean(world, [("NAKED_POSITION", "ETHUSDT", "PROTECT")])
    assert bracket.is_protected and (bracket.qty, bracket.entry_price) == (0.1, fill.avg_price)
    assert len(await world.sim.open_orders("ETHUSDT")) == 2


async def test_qty_mismatch_with_close_position_legs_takes_the_exchange_size(world: World) -> None:
    bracket = await world.open_protected("BTCUSDT")
    legs = await world.legs("BTCUSDT")
    async with world.behind_the_back():
        world.sim.inject_position("BTCUSDT", bracket.qty * 2, bracket.entry_price)

    report = await assert_diff_changes_nothing(world, [("QTY_MISMATCH", "BTCUSDT", "ADOPT")])
    assert f"qty {bracket.qty:g}" in report.items[0].local
    await apply_and_check_clean(world, [("QTY_MISMATCH", "BTCUSDT", "ADOPT")])
    position = (await world.sim.positions())[0]
    assert bracket.qty == position.qty and bracket.is_protected
    assert await world.legs("BTCUSDT") == legs, "close-position legs need nothing"


async def test_qty_mismatch_with_sized_legs_replaces_them(world: World) -> None:
    price = await world.price("ETHUSDT")
    rules = world.sim.market.rules["ETHUSDT"]
    seq = 3
    bracket = pending(world, "ETHUSDT", seq, 0.2)
    bracket.state, bracket.entry_price = BracketState.PROTECTED, price
    bracket.tp_client_id = client_id(seq, Leg.TP, 0, "ETHUSDT")
    bracket.sl_client_id = client_id(seq, Leg.SL, 0, "ETHUSDT")
    bracket.tp_acked = bracket.sl_acked = True
    # An older build sized its legs with reduce-only quantities; the position has since grown to 0.3.
    world.sim.inject_position("ETHUSDT", 0.3, price)
    await world.place_by_hand(
        *(
            OrderRequest(
                "ETHUSDT",
                Side.SELL,
                kind,
                0.2,
                cid,
                reduce_only=True,
                trigger_price=rules.snap_price(trigger),
            )
            for cid, kind, trigger in (
                (bracket.sl_client_id, OrderType.STOP_MARKET, price * 0.99),
                (bracket.tp_client_id, OrderType.TAKE_PROFIT_MARKET, price * 1.01),
            )
        )
    )
    world.new_croupier([bracket])
    old = (bracket.sl_client_id, bracket.tp_client_id)

    report = await assert_diff_changes_nothing(world, [("QTY_MISMATCH", "ETHUSDT", "PROTECT")])
    assert "sized for another qty" in report.items[0].exchange
    await apply_and_check_clean(world, [("QTY_MISMATCH", "ETHUSDT", "PROTECT")])
    assert bracket.is_protected and bracket.qty == 0.3
    assert bracket.sl_client_id == client_id(seq, Leg.SL, 1, "ETHUSDT")
    assert bracket.tp_client_id == client_id(seq, Leg.TP, 1, "ETHUSDT")
    for order in await world.sim.open_orders("ETHUSDT"):
        assert order.close_position, "the new legs close whatever the position is"
    for cid in old:
        found = await world.sim.get_order("ETHUSDT", cid, True)
        assert found is not None and found.status is OrderStatus.CANCELED


async def test_bracket_that_gave_up_on_a_position_it_could_not_close_is_readopted_and_protected(
    world: World,
) -> None:
    world.sim.refuse_stop = {"BTCUSDT"}
    world.sim.refuse_close = {"BTCUSDT"}
    decision = Decision(symbol="BTCUSDT", side=Side.BUY, score=0.5, ts_ms=world.clock.now_ms())
    bracket = await world.croupier.open_bracket(decision, await world.price("BTCUSDT"))
    await world.settle()
    assert bracket is not None and bracket.state is BracketState.PROTECT_FAILED, "no close reached the book"
    assert await world.sim.open_orders() == [], "no stop was accepted: the position is naked"
    world.sim.refuse_stop = set()

    report = await assert_diff_changes_nothing(world, [("NAKED_POSITION", "BTCUSDT", "PROTECT")])
    assert "PROTECT_FAILED" in report.items[0].local
    await apply_and_check_clean(world, [("NAKED_POSITION", "BTCUSDT", "PROTECT")])
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.RECONCILED)
    adopted = world.croupier.book.bracket_for("BTCUSDT")
    assert adopted is not None and adopted.is_protected and adopted.seq == bracket.seq + 1
    assert adopted.qty == bracket.qty


async def test_a_failed_action_is_reported_and_the_difference_stays(world: World) -> None:
    stuck = OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, 0.003, "stuck", price=50_000.0)
    await world.place_by_hand(stuck)
    world.sim.refuse_cancel = {"stuck"}
    report = await world.reconcile(apply=True)
    ((item),) = report.items
    assert (item.kind, item.action) == ("ORPHAN_ORDER", "CANCEL")
    assert item.detail.startswith("failed:") and "cancel refused" in item.detail
    assert [p["detail"] for p in world.journaled()] == [item.detail]
    assert kinds(await world.reconcile()) == [("ORPHAN_ORDER", "BTCUSDT", "CANCEL")]


async def test_reconcile_journals_to_the_croupiers_journal_by_default(world: World) -> None:
    world.sim.inject_position("ETHUSDT", 0.2, await world.price("ETHUSDT"))
    report = await reconcile(world.sim, world.croupier, world.clock, apply=True)
    assert [i.detail for i in report.items] == ["ok"]
    assert [p["kind"] for p in world.journaled()] == ["UNKNOWN_POSITION"]


async def test_resolve_unacked_looks_intents_up_and_never_resends(world: World) -> None:
    placed = pending(world, "ETHUSDT", 4, 0.1)
    lost = pending(world, "BTCUSDT", 5, 0.002)
    for bracket in (placed, lost):
        request = OrderRequest(
            bracket.symbol, Side.BUY, OrderType.MARKET, bracket.qty, bracket.entry_client_id
        )
        await world.journal.record_intent(request)  # written before the send; then the process died
    # Only the first send reached the exchange.
    await world.place_by_hand(
        OrderRequest("ETHUSDT", Side.BUY, OrderType.MARKET, 0.1, placed.entry_client_id)
    )
    croupier = world.new_croupier([placed, lost])

    answers = await resolve_unacked(world.sim, world.journal, croupier)
    await world.settle()

    assert set(answers) == {placed.entry_client_id, lost.entry_client_id}
    found = answers[placed.entry_client_id]
    assert found is not None and found.status is OrderStatus.FILLED and answers[lost.entry_client_id] is None
    assert placed.is_protected, "the found fill moves its bracket on to protection"
    assert lost.state is BracketState.PENDING_ENTRY
    assert await world.sim.get_order("BTCUSDT", lost.entry_client_id, False) is None, "never resent"
    world.journal.flush()
    assert [e.ref for e in world.journal.unacked_intents()] == [lost.entry_client_id]

    await apply_and_check_clean(world, [("VANISHED_BRACKET", "BTCUSDT", "MARK_CLOSED")])
    assert (lost.state, lost.close_reason) == (BracketState.CLOSED, CloseReason.RECONCILED)


async def test_position_flipped_behind_the_back_closes_the_bracket_and_adopts_the_new_side(
    world: World,
) -> None:
    bracket = await world.open_protected("BTCUSDT")
    async with world.behind_the_back():
        world.sim.inject_position("BTCUSDT", -bracket.qty, bracket.entry_price)
    expected = [("UNKNOWN_POSITION", "BTCUSDT", "ADOPT"), ("VANISHED_BRACKET", "BTCUSDT", "MARK_CLOSED")]
    report = await assert_diff_changes_nothing(world, expected)
    assert any("(the other way)" in i.exchange for i in report.items)

    await apply_and_check_clean(world, expected)
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.RECONCILED)
    adopted = world.croupier.book.bracket_for("BTCUSDT")
    assert adopted is not None and adopted.side is Side.SELL and adopted.is_protected
    legs = await world.sim.open_orders("BTCUSDT")
    assert sorted(o.client_id for o in legs) == sorted((adopted.sl_client_id, adopted.tp_client_id))
    assert all(o.side is Side.BUY for o in legs), "the legs close a short"


async def test_restored_bracket_whose_leg_acks_were_lost_adopts_the_live_legs(world: World) -> None:
    await world.open_protected("ETHUSDT")
    (saved,) = copies(world.croupier.book.active)
    saved.state, saved.tp_acked, saved.sl_acked = BracketState.OPEN_UNPROTECTED, False, False
    croupier = world.new_croupier([saved])
    orders_before = await world.sim.open_orders()

    report = await assert_diff_changes_nothing(world, [("NAKED_POSITION", "ETHUSDT", "ADOPT")])
    assert "TP and SL live" in report.items[0].exchange
    await apply_and_check_clean(world, [("NAKED_POSITION", "ETHUSDT", "ADOPT")])
    (bracket,) = croupier.book.active
    assert bracket.is_protected
    assert await world.sim.open_orders() == orders_before, "nothing placed, nothing cancelled"


async def test_crash_between_stop_and_take_profit_places_only_the_take_profit(world: World) -> None:
    bracket = await world.open_protected("BTCUSDT")
    async with world.behind_the_back():  # as if the TP had never been sent
        world.sim.matching.cancel("BTCUSDT", bracket.tp_client_id, True)
    (saved,) = copies(world.croupier.book.active)
    saved.state, saved.tp_client_id, saved.tp_acked = BracketState.OPEN_UNPROTECTED, "", False
    croupier = world.new_croupier([saved])

    report = await assert_diff_changes_nothing(world, [("NAKED_POSITION", "BTCUSDT", "PROTECT")])
    assert report.items[0].exchange.endswith("no take-profit")
    await apply_and_check_clean(world, [("NAKED_POSITION", "BTCUSDT", "PROTECT")])
    (restored,) = croupier.book.active
    assert restored.is_protected and restored.sl_client_id == bracket.sl_client_id
    legs = await world.legs("BTCUSDT")
    assert legs == {
        OrderType.STOP_MARKET: [bracket.sl_client_id],
        OrderType.TAKE_PROFIT_MARKET: [restored.tp_client_id],
    }
