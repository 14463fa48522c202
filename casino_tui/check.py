"""`casino-tui check`: is this exchange, key and account ready to trade? One pass/fail line per item."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import msgspec

from casino_tui.clock import WallClock
from casino_tui.config import Config
from casino_tui.exchange.loopback import is_loopback_url
from casino_tui.port import Exchange, ExchangeError

MAX_SKEW_MS = 1000
REACH_TIMEOUT_S = 10.0


class CheckResult(msgspec.Struct, frozen=True):
    name: str
    is_ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.is_ok else 'FAIL'}  {self.name:<16} {self.detail}"


async def run_checks(exchange: Exchange, symbols: list[str]) -> list[CheckResult]:
    """Every check runs even when an earlier one fails, so the operator sees the whole picture at once."""
    results: list[CheckResult] = []

    async def item(name: str, probe: Callable[[], Awaitable[tuple[bool, str]]]) -> None:
        try:
            ok, detail = await probe()
        except ExchangeError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        except (OSError, TimeoutError) as exc:
            ok, detail = False, f"unreachable: {exc or type(exc).__name__}"
        results.append(CheckResult(name, ok, detail))

    async def connectivity() -> tuple[bool, str]:
        started = time.monotonic()
        await exchange.server_time_ms()
        return True, f"{exchange.name} answered in {(time.monotonic() - started) * 1000:.0f} ms"

    async def clock() -> tuple[bool, str]:
        before = time.time_ns() // 1_000_000
        server = await exchange.server_time_ms()
        after = time.time_ns() // 1_000_000
        skew = server - (before + after) // 2
        return abs(
            skew
        ) < MAX_SKEW_MS, f"local clock {-skew:+d} ms from the exchange's (limit ±{MAX_SKEW_MS})"

    async def key() -> tuple[bool, str]:
        await exchange.balance()
        return True, "signed request accepted"

    async def permissions() -> tuple[bool, str]:
        perms = await exchange.key_permissions()
        if perms is None:
            return True, "simulated exchange: no key needed"
        if not perms.checked:
            return True, "not checked: the testnet has no permissions endpoint (a testnet key moves no money)"
        if perms.can_withdraw:
            return False, "key can WITHDRAW: refused; create a key without withdrawal permission"
        if not perms.can_trade_futures:
            return False, "key has no futures permission"
        return True, "futures trading allowed, withdrawals disabled"

    async def position_mode() -> tuple[bool, str]:
        hedge = await exchange.is_hedge_mode()
        return (not hedge), ("hedge mode is on: switch the account to one-way mode" if hedge else "one-way")

    async def tradable() -> tuple[bool, str]:
        rules = await exchange.symbol_rules()
        missing = [s for s in symbols if s not in rules]
        halted = [s for s in symbols if s in rules and rules[s].status != "TRADING"]
        if missing or halted:
            parts = [f"unknown: {', '.join(missing)}"] if missing else []
            parts += [f"not trading: {', '.join(halted)}"] if halted else []
            return False, "; ".join(parts)
        return True, f"{len(symbols)} symbols trading"

    async def balance() -> tuple[bool, str]:
        bal = await exchange.balance()
        return bal.available > 0, f"{bal.wallet:.2f} {bal.asset} wallet, {bal.available:.2f} available"

    for name, probe in (
        ("connectivity", connectivity),
        ("clock skew", clock),
        ("api key", key),
        ("permissions", permissions),
        ("position mode", position_mode),
        ("symbols", tradable),
        ("balance", balance),
    ):
        await item(name, probe)
    return results


async def why_unreachable(url: str) -> str | None:
    """Why nothing answers at `url` (refused, no such host, timeout), or None: any HTTP answer will do."""
    async with httpx.AsyncClient(timeout=REACH_TIMEOUT_S, trust_env=not is_loopback_url(url)) as client:
        try:
            await client.get(url)
        except httpx.TransportError as exc:
            return str(exc) or type(exc).__name__
    return None


def run_check(config: Config) -> int:
    """Print the checks; exit 0 only if all pass. Setup problems (no key, nothing listening at the URL) are
    one line on stderr and exit 2."""
    from casino_tui.exchange.binance.connector import BinanceExchange
    from casino_tui.exchange.factory import ExchangeSetupError, build_exchange

    try:
        exchange = build_exchange(config, WallClock())
    except ExchangeSetupError as exc:
        print(f"casino-tui: error: {exc}", file=sys.stderr)
        return 2
    rest_url = exchange.rest_url if isinstance(exchange, BinanceExchange) else None  # the sim has no URL

    async def go() -> list[CheckResult] | str:
        try:
            reason = await why_unreachable(rest_url) if rest_url else None
            if reason is not None:
                return f"cannot reach {exchange.name} at {rest_url}: {reason}"
            return await run_checks(exchange, list(config.symbols))
        finally:
            await exchange.stop()

    results = asyncio.run(go())
    if isinstance(results, str):
        print(f"casino-tui: error: {results}", file=sys.stderr)
        return 2
    for result in results:
        print(result.line())
    ok = all(r.is_ok for r in results)
    print("all checks passed" if ok else f"{sum(not r.is_ok for r in results)} check(s) failed")
    return 0 if ok else 1
