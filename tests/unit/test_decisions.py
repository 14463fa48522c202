"""The decision path: each decision of the player becomes one entry at the last trade price, while entries
are allowed; otherwise it is said and nothing is sent."""

from __future__ import annotations

import logging

import pytest

from casino_tui.clock import ManualClock
from casino_tui.config import Config
from casino_tui.decisions import DecisionPath
from casino_tui.engine.streams import StreamStats
from casino_tui.model import Decision, Side

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
T0 = 1_767_225_600_000


class DecidesLong:
    """The player's side of the path: every batch gives one LONG decision on ETHUSDT."""

    def on_votes(self, batch: object) -> list[Decision]:
        return [Decision("ETHUSDT", Side.BUY, 0.9, T0)]


class Entries:
    """The croupier's side of the path: records each entry it is asked for."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, float]] = []

    async def open_bracket(self, decision: Decision, price: float) -> None:
        self.opened.append((decision.symbol, price))


def decision_path(refusal: str = "") -> tuple[DecisionPath, StreamStats, Entries]:
    clock = ManualClock(T0)
    stats = StreamStats(SYMBOLS, clock)
    path = DecisionPath(SYMBOLS, Config(symbols=SYMBOLS), clock, stats, lambda: refusal)
    path.player = DecidesLong()  # type: ignore[assignment]
    entries = Entries()
    path.start_trading(entries, {})  # type: ignore[arg-type]
    return path, stats, entries


async def test_a_decision_opens_an_entry_at_the_last_trade_price() -> None:
    path, stats, entries = decision_path()
    stats.record(stats.handle("ETHUSDT"), 2_000.5, T0)

    path.on_votes(object())  # type: ignore[arg-type]
    await path.settle()

    assert entries.opened == [("ETHUSDT", 2_000.5)]
    assert (path.decisions, path.errors) == (1, 0)


async def test_a_decision_before_the_symbols_first_trade_opens_nothing_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, _, entries = decision_path()
    caplog.set_level(logging.INFO, logger="casino.runtime")

    path.on_votes(object())  # type: ignore[arg-type]
    await path.settle()

    assert entries.opened == [] and path.errors == 0
    assert "BUY signal ignored: no trade seen yet" in caplog.text


async def test_a_decision_while_entries_are_refused_opens_nothing_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, stats, entries = decision_path(refusal="paused")
    stats.record(stats.handle("ETHUSDT"), 2_000.5, T0)
    caplog.set_level(logging.INFO, logger="casino.runtime")

    path.on_votes(object())  # type: ignore[arg-type]
    await path.settle()

    assert entries.opened == [] and path.decisions == 1
    assert "BUY signal ignored: paused" in caplog.text


async def test_warm_up_decisions_are_counted_but_never_traded() -> None:
    clock = ManualClock(T0)
    stats = StreamStats(SYMBOLS, clock)
    path = DecisionPath(SYMBOLS, Config(symbols=SYMBOLS), clock, stats, lambda: "")
    path.player = DecidesLong()  # type: ignore[assignment]
    stats.record(stats.handle("ETHUSDT"), 2_000.5, T0)

    path.on_votes(object())  # type: ignore[arg-type]
    await path.settle()

    assert path.decisions == 1 and path.croupier is None
