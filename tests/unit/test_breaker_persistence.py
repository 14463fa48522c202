"""An open circuit breaker survives a restart for the rest of its cooldown (snapshot → restore)."""

from casino_tui.clock import ManualClock
from casino_tui.config import ExchangeConfig
from casino_tui.engine.state import saved_breakers
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.binance.rest import EndpointGroup
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.port import BreakerStatus


def binance(clock: ManualClock) -> BinanceExchange:
    """A connector that is never started: only its breakers and health() are used."""
    config = ExchangeConfig(name="binance", rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9")
    return BinanceExchange(config, "key", "secret", clock, testnet=False, seed=1)


def test_open_breaker_is_saved_and_reopened_with_its_remaining_cooldown():
    clock = ManualClock()
    before = binance(clock)
    before.breakers[EndpointGroup.ORDERS].force_open("418 banned", 120)
    clock.advance(20_000)
    saved = saved_breakers(before)
    assert set(saved) == {"orders"} and saved["orders"]["state"] == "OPEN"

    after = binance(clock)  # the restarted process
    after.reopen_breakers(saved)
    orders = after.breakers[EndpointGroup.ORDERS].snapshot()
    assert orders.state is BreakerStatus.OPEN and 99 <= orders.cooldown_s <= 100
    assert "418 banned" in orders.reason
    assert after.breakers[EndpointGroup.MARKET].snapshot().state is BreakerStatus.CLOSED


def test_nothing_to_restore_on_an_exchange_without_breakers():
    sim = SimExchange.__new__(SimExchange)  # reopen_breakers touches no state
    sim.reopen_breakers({"orders": {"state": "OPEN", "cooldown_s": 30}})  # the sim: no error, nothing opens
