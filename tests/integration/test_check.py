"""`casino-tui check` and the key-permission gate, against the sandbox over real sockets."""

import httpx

from casino_tui.check import run_checks
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.runtime import Runtime, StartupError
from tests.integration.connector_support import connected


async def test_check_passes_every_item_against_a_healthy_sandbox():
    # The sandbox's own (wall-speed) clock: the skew check compares it with this machine's clock.
    async with connected() as (_sandbox, exchange, _rec):
        results = await run_checks(exchange, ["BTCUSDT", "ETHUSDT"])
    assert [r.name for r in results] == [
        "connectivity",
        "clock skew",
        "api key",
        "permissions",
        "position mode",
        "symbols",
        "balance",
    ]
    assert all(r.is_ok for r in results), [r.line() for r in results if not r.is_ok]


async def test_check_fails_a_withdrawal_capable_key_and_an_unknown_symbol():
    async with connected(clock=ManualClock()) as (sandbox, exchange, _rec):
        async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
            await admin.post("/__admin__/api_restrictions", json={"enableWithdrawals": True})
        results = {r.name: r for r in await run_checks(exchange, ["BTCUSDT", "NOPEUSDT"])}
    assert not results["permissions"].is_ok and "WITHDRAW" in results["permissions"].detail
    assert not results["symbols"].is_ok and "NOPEUSDT" in results["symbols"].detail
    assert results["connectivity"].is_ok


async def test_runtime_refuses_to_start_with_a_key_that_can_withdraw(tmp_path):
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, _rec):
        async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
            await admin.post("/__admin__/api_restrictions", json={"enableWithdrawals": True})
        config = load_config(None, {"": {"symbols": ["BTCUSDT"]}, "exchange": {"name": "binance"}}, env={})
        runtime = Runtime(config, exchange=exchange, clock=clock, use_timers=False)
        try:
            await runtime.start()
        except StartupError as exc:
            assert "withdraw" in str(exc)
        else:
            raise AssertionError("a withdrawal-capable key was accepted")
