"""An open circuit breaker survives a restart for the rest of its cooldown (snapshot → restore)."""

from casino_tui.clock import ManualClock
from casino_tui.exchange.binance.resilience import CircuitBreaker
from casino_tui.port import ExchangeHealth
from casino_tui.runtime import restore_breakers, saved_breakers


class BreakerExchange:
    """The two things restore/save use: `breakers` and `health()`."""

    def __init__(self, clock: ManualClock) -> None:
        self.breakers = {name: CircuitBreaker(name, clock) for name in ("orders", "market")}

    def health(self) -> ExchangeHealth:
        return ExchangeHealth(breakers=tuple(b.snapshot() for b in self.breakers.values()))


def test_open_breaker_is_saved_and_reopened_with_its_remaining_cooldown():
    clock = ManualClock()
    before = BreakerExchange(clock)
    before.breakers["orders"].force_open("418 banned", 120)
    clock.advance(20_000)
    saved = saved_breakers(before)
    assert set(saved) == {"orders"} and saved["orders"]["state"] == "OPEN"

    after = BreakerExchange(clock)  # the restarted process
    restore_breakers(after, saved)
    orders = after.breakers["orders"].snapshot()
    assert orders.state == "OPEN" and 99 <= orders.cooldown_s <= 100
    assert "418 banned" in orders.reason
    assert after.breakers["market"].snapshot().state == "CLOSED"


def test_nothing_to_restore_on_an_exchange_without_breakers():
    restore_breakers(object(), {"orders": {"state": "OPEN", "cooldown_s": 30}})  # the sim: no error
