"""Both adapters implement the whole exchange port: every method, same parameters, same sync/async kind.

The runtime and `check` call the port only, never probe for a capability, so an adapter missing a method
would fail at run time; this catches it at once.
"""

import inspect

import pytest
from fakes import FakeExchange

from casino_tui.clock import ManualClock, ReplayClock
from casino_tui.config import ExchangeConfig, SimConfig
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.replay.exchange import ReplayExchange
from casino_tui.exchange.replay.sources import ReplaySource
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.port import Exchange


def adapters() -> list[object]:
    clock = ManualClock(1_700_000_000_000)
    config = ExchangeConfig(name="binance", rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9")
    return [
        SimExchange(SimConfig(), ["BTCUSDT"], clock),
        BinanceExchange(config, "key", "secret", clock, testnet=False, seed=1),
        FakeExchange({"BTCUSDT": 100.0}),
        ReplayExchange(empty_source(), SimConfig(), ReplayClock(1_700_000_000_000)),
    ]


def empty_source() -> ReplaySource:
    """A replay source holding one symbol and no data (the port's shape does not need any)."""
    rules = SimExchange(SimConfig(), ["BTCUSDT"], ManualClock()).market.rules
    t0 = 1_700_000_000_000
    return ReplaySource([], [], rules, {"BTCUSDT": None}, t0, t0, t0, t0 + 1)


@pytest.mark.parametrize("adapter", adapters(), ids=lambda a: type(a).__name__)
def test_adapter_has_every_method_of_the_port_with_its_signature(adapter: object) -> None:
    for name, member in inspect.getmembers(Exchange, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(adapter, name, None)
        assert ours is not None, f"{type(adapter).__name__} lacks {name}"
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters)[1:], (
            name
        )
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(member), name


async def test_the_sim_needs_no_key_and_keeps_one_way_positions() -> None:
    sim = SimExchange(SimConfig(), ["BTCUSDT"], ManualClock(1_700_000_000_000))
    assert await sim.key_permissions() is None
    assert await sim.is_hedge_mode() is False
