"""Bracket protection latency: from the market entry's send to both TP and SL acknowledged by the exchange.

The sandbox runs in its own process (`casino-tui sandbox`, real-time sim). The client is what the runtime
uses: BinanceExchange (signed REST, user stream) under a Croupier (OCOManager, OrderExecutor). Brackets are
opened one at a time across a set of symbols; a sweep between rounds closes them. The time marks come from
the Croupier's journal hooks: the entry's intent is recorded just before its send, and the bracket's move
to PROTECTED happens when the second of its TP/SL algo orders is acknowledged (REST answer or user stream,
whichever is first). Prints machine info, then one JSON object on the last line.

    .venv/bin/python benchmarks/bracket_latency.py [--brackets 100] [--symbols 20] [--rate 5]
    .venv/bin/python benchmarks/bracket_latency.py --tiny      # a few seconds, what the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import emit, machine_info, parse_args, print_machine  # noqa: E402
from ws_ingest import SandboxProcess  # noqa: E402

from casino_tui.clock import WallClock  # noqa: E402
from casino_tui.config import ExchangeConfig, TradingConfig  # noqa: E402
from casino_tui.engine.brackets.machine import Bracket  # noqa: E402
from casino_tui.engine.croupier import Croupier  # noqa: E402
from casino_tui.exchange.binance.connector import BinanceExchange  # noqa: E402
from casino_tui.exchange.sim.market import synthetic_symbols  # noqa: E402
from casino_tui.model import AccountUpdate, BracketState, Decision, OrderRequest, OrderUpdate, Side, Trade  # noqa: E402

API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
TINY = {"brackets": 3, "symbols": 3, "rate": 10.0}


class TimingJournal:
    """The Croupier's journal hooks, used only to timestamp: intents (before the send), acks, transitions."""

    def __init__(self) -> None:
        self.intent_at: dict[str, float] = {}
        self.ack_at: dict[str, float] = {}
        self.protected_at: dict[str, float] = {}

    def record_intent(self, request: OrderRequest) -> None:
        self.intent_at[request.client_id] = time.perf_counter()

    def record_ack(self, update: OrderUpdate) -> None:
        self.ack_at.setdefault(update.client_id, time.perf_counter())

    def record_bracket(self, bracket: Bracket) -> None:
        if bracket.state is BracketState.PROTECTED:
            self.protected_at.setdefault(bracket.id, time.perf_counter())


class Prices:
    """MarketSink keeping the last trade price per symbol (the price a decision is sized at)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def on_trade(self, trade: Trade) -> None:
        self.last[trade.symbol] = trade.price

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.last.setdefault(symbol, price)

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None: ...


class UserEvents:
    """UserSink forwarding to the Croupier, as the runtime's does."""

    def __init__(self, croupier: Croupier) -> None:
        self.croupier = croupier

    def on_order_update(self, update: OrderUpdate) -> None:
        self.croupier.on_order_update(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        self.croupier.on_account_update(update)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(name: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        f"{name}_p50_ms": round(percentile(values, 50), 2),
        f"{name}_p99_ms": round(percentile(values, 99), 2),
        f"{name}_max_ms": round(max(values), 2),
        f"{name}_mean_ms": round(statistics.fmean(values), 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    symbols = synthetic_symbols(args.symbols)
    sandbox = SandboxProcess(len(symbols), 1.0, args.seed)  # --symbols-count serves synthetic_symbols(n)
    clock = WallClock()
    config = ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url)
    exchange = BinanceExchange(config, API_KEY, API_SECRET, clock, testnet=False, seed=args.seed)
    journal = TimingJournal()
    prices = Prices()
    trading = TradingConfig(notional_usdt=args.notional, max_positions=len(symbols))
    brackets: list[Bracket] = []
    failed: list[str] = []
    sweeps: list[str] = []
    try:
        rules = await exchange.symbol_rules()
        croupier = Croupier(exchange, {s: rules[s] for s in symbols}, trading, clock, journal)
        exchange.set_sinks(prices, UserEvents(croupier))
        await exchange.start(symbols)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(prices.last) < len(symbols) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        missing = set(symbols) - set(prices.last)
        if missing:
            prices.last.update({s: p for s, p in (await exchange.tickers()).items() if s in missing})
        gap = 1.0 / args.rate
        next_at = loop.time()
        for i in range(args.brackets):
            symbol = symbols[i % len(symbols)]
            if i and i % len(symbols) == 0:
                result = await croupier.sweep()
                await croupier.wait_idle()
                sweeps.append(result.message)
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = loop.time() + gap
            side = Side.BUY if i % 2 == 0 else Side.SELL
            decision = Decision(symbol, side, 1.0 if side is Side.BUY else -1.0, clock.now_ms(), "benchmark")
            bracket = await croupier.open_bracket(decision, prices.last[symbol])
            if bracket is None or bracket.state is not BracketState.PROTECTED:
                state = "skipped" if bracket is None else f"{bracket.state} {bracket.note}"
                failed.append(f"{symbol}: {state}")
                continue
            brackets.append(bracket)
        result = await croupier.sweep()
        await croupier.wait_idle()
        sweeps.append(result.message)
        state_flat = result.is_flat
        limits = exchange.health()
    finally:
        await exchange.stop()
        sandbox.stop()

    protect, entry_ack, legs = [], [], []
    for b in brackets:
        sent = journal.intent_at[b.entry_client_id]
        protect.append((journal.protected_at[b.id] - sent) * 1000)
        entry_ack.append((journal.ack_at[b.entry_client_id] - sent) * 1000)
        for cid in (b.sl_client_id, b.tp_client_id):
            if cid in journal.intent_at and cid in journal.ack_at:
                legs.append((journal.ack_at[cid] - journal.intent_at[cid]) * 1000)
    return {
        "benchmark": "bracket_latency",
        "brackets": len(brackets),
        "failed": len(failed),
        "failures": failed[:5],
        "symbols": len(symbols),
        "rate_per_s": args.rate,
        **summary("protect", protect),
        **summary("entry_ack", entry_ack),
        **summary("leg_ack", legs),
        "swept_flat": state_flat,
        "last_sweep": sweeps[-1] if sweeps else "",
        "used_weight_1m": limits.used_weight_1m,
        "api_errors": limits.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brackets", type=int, default=100)
    parser.add_argument("--symbols", type=int, default=20, help="brackets rotate over this many symbols")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="brackets per second at most (keeps order counts in limits)"
    )
    parser.add_argument("--notional", type=float, default=200.0, help="USDT per bracket")
    parser.add_argument("--seed", type=int, default=7)
    args = parse_args(parser, TINY)
    if min(args.brackets, args.symbols) < 1 or min(args.rate, args.notional) <= 0:
        parser.error("--brackets and --symbols must be at least 1, --rate and --notional positive")

    info = machine_info()
    print_machine(info)
    emit(asyncio.run(run(args)), info, args)


if __name__ == "__main__":
    main()
