"""Wiring: the parts of one run built from the Config, before anything starts (the Runtime drives them).

The paths between them are set here once and never replaced: trades → Engine → CandleBook → Engine (counts,
sparks) → DecisionPath (SensorManager → AdaptivePlayer → Croupier); user-stream events → the Runtime.
"""

from __future__ import annotations

from collections.abc import Callable

from casino_tui.clock import Clock, SimClock, WallClock
from casino_tui.config import Config
from casino_tui.decisions import DecisionPath
from casino_tui.engine.candles import CandleBook
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.engine import Engine
from casino_tui.engine.journal import Journal
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.engine.recovery import Restored
from casino_tui.engine.streams import StreamStats
from casino_tui.engine.trades import TradeLedger
from casino_tui.exchange.sim.paper import saved_sim_clock_ms
from casino_tui.heartbeat import Heartbeat
from casino_tui.model import TIMEFRAMES, AccountUpdate, OrderUpdate, SymbolRules, TradingMode
from casino_tui.paths import StatePaths
from casino_tui.persistence import Persistence
from casino_tui.port import Exchange
from casino_tui.readout import Readout


def trading_mode(config: Config) -> TradingMode:
    """PAPER on the sim (and a loopback sandbox), TESTNET, or LIVE only when production Binance was asked for."""
    if config.exchange.name == "sim":
        return TradingMode.PAPER
    if config.exchange.name == "binance-testnet":
        return TradingMode.TESTNET
    return TradingMode.LIVE if config.exchange.live else TradingMode.PAPER


def default_clock(config: Config, paths: StatePaths | None) -> Clock:
    """The wall clock, or on the sim a simulated one that carries on from the saved paper account."""
    if config.exchange.name == "sim":
        saved = saved_sim_clock_ms(paths.root) if paths is not None else None
        return SimClock(saved or WallClock().now_ms(), config.sim.speed)
    return WallClock()


def build_exchange(config: Config, clock: Clock) -> Exchange:
    from casino_tui.exchange.factory import build_exchange as build

    return build(config, clock)


class Parts:
    """What one run is made of, connected; the croupier comes later (`build_croupier`), once the symbol rules
    and the recovered state are known."""

    def __init__(
        self,
        config: Config,
        paths: StatePaths | None,
        clock: Clock,
        exchange: Exchange,
        log_setup: LogSetup | None,
        entry_refusal: Callable[[], str],
    ) -> None:
        symbols = list(config.symbols)
        self.stats = StreamStats(symbols, clock)
        self.decisions = DecisionPath(symbols, config, clock, self.stats, entry_refusal)
        # The Engine is the book's one consumer and hands every closed batch to the decision path.
        self.engine = Engine(
            symbols, clock, CandleBook(symbols, TIMEFRAMES), self.stats, on_candles=self.decisions.on_candles
        )
        self.heartbeat = Heartbeat(clock, exchange, self.engine, self.stats, self.decisions)
        # The closed trades of this state dir: rebuilt by recovery, then fed by the croupier.
        self.trades = TradeLedger()
        self.persistence = Persistence(paths, exchange, clock, self.trades)
        self.readout = Readout(
            config, clock, exchange, self.engine, self.stats, self.decisions, self.heartbeat, log_setup
        )


def build_croupier(
    config: Config,
    exchange: Exchange,
    clock: Clock,
    rules: dict[str, SymbolRules],
    journal: Journal | None,
    restored: Restored,
    ledger: TradeLedger | None = None,
) -> Croupier:
    """The Croupier, holding the previous run's brackets again (before the startup reconcile)."""
    croupier = Croupier(
        exchange,
        rules,
        config.trading,
        clock,
        journal=journal,
        next_bracket_seq=restored.next_bracket_seq,
        ledger=ledger,
    )
    croupier.restore(restored.brackets)
    return croupier


class UserEvents:
    """The UserSink: routes user-stream events to their handlers (kept apart so the Engine stays market-only)."""

    def __init__(
        self,
        on_order_update: Callable[[OrderUpdate], None],
        on_account_update: Callable[[AccountUpdate], None],
    ) -> None:
        self.on_order_update = on_order_update
        self.on_account_update = on_account_update
