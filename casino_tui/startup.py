"""What start-up settles before anything trades: the exchange knows every symbol and the key cannot withdraw
(`checked_rules`), and in LIVE mode the operator has said yes (`LiveGate`).
"""

from __future__ import annotations

import asyncio

from casino_tui.engine import retries
from casino_tui.model import SymbolRules
from casino_tui.port import AuthError, Exchange, ExchangeError


class StartupError(Exception):
    """A problem the operator must fix before the engine can run (unknown symbol, bad key ...): exit 2."""


async def checked_rules(exchange: Exchange, symbols: list[str]) -> dict[str, SymbolRules]:
    """The rules of `symbols`, once the key is known not to withdraw and every symbol to exist; else
    StartupError."""
    try:
        all_rules = await retries.read(exchange.symbol_rules)
    except ExchangeError as exc:
        raise StartupError(f"cannot read symbol rules from {exchange.name}: {exc}") from None
    try:
        permissions = await exchange.key_permissions()
    except AuthError as exc:
        raise StartupError(f"{exchange.name} refused the API key: {exc}") from None
    if permissions is not None and permissions.can_withdraw:
        raise StartupError("this API key can withdraw funds: refused; create a key without withdrawal rights")
    unknown = [s for s in symbols if s not in all_rules]
    if unknown:
        raise StartupError(f"unknown symbol on {exchange.name}: {', '.join(unknown)}")
    return {s: all_rules[s] for s in symbols}


class LiveGate:
    """The operator's go-ahead for LIVE trading (the typed phrase, or headless `--confirm-live`); open from
    the start in every other mode."""

    def __init__(self, is_open: bool) -> None:
        self._opened = asyncio.Event()
        if is_open:
            self._opened.set()

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    def open(self) -> None:
        self._opened.set()

    async def wait(self, stopping: asyncio.Event) -> bool:
        """Until the gate opens (True) or a stop is asked for (False)."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self._opened, stopping)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return not stopping.is_set()
