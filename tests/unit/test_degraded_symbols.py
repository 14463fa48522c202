"""A lost market-data connection degrades only the symbols it carries: their stream rows say so, the others
do not, and the user-data socket carries no symbols to degrade."""

from __future__ import annotations

from casino_tui.clock import ManualClock
from casino_tui.engine.streams import StreamStats
from casino_tui.port import StreamConnection
from casino_tui.readout import degraded_symbols

CONNECTIONS = (
    StreamConnection("market-1", True, ("BTCUSDT", "ETHUSDT")),
    StreamConnection("market-2", False, ("SOLUSDT", "BNBUSDT"), connects=2, last_error="connection lost"),
    StreamConnection("user", False),
)


def test_only_the_symbols_of_down_connections_are_degraded() -> None:
    assert degraded_symbols(CONNECTIONS) == {"SOLUSDT", "BNBUSDT"}


def test_all_connections_up_degrade_nothing() -> None:
    up = tuple(StreamConnection(c.name, True, c.symbols) for c in CONNECTIONS)
    assert degraded_symbols(up) == frozenset()


def test_stream_rows_flag_the_degraded_symbols_only() -> None:
    stats = StreamStats(["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"], ManualClock())
    rows = stats.rows(degraded=degraded_symbols(CONNECTIONS))
    assert {row.symbol: row.is_degraded for row in rows} == {
        "BTCUSDT": False,
        "ETHUSDT": False,
        "SOLUSDT": True,
        "BNBUSDT": True,
    }
