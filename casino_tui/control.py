"""The remote control the console (and the headless runner) uses: the only surface of Runtime it sees."""

from __future__ import annotations

from typing import Protocol

import msgspec

from casino_tui.model import ReconcileAction, ReconcileKind
from casino_tui.snapshot import RuntimeSnapshot, SensorVoteRow, TradeHistory


class SweepResult(msgspec.Struct, frozen=True):
    """What a sweep did and what the exchange showed at its last read; `is_flat` only if that read found
    no position and no open order."""

    cancelled_orders: int
    closed_positions: int
    remaining_positions: tuple[str, ...]  # symbols still open after the retries
    is_flat: bool
    message: str
    orders_left: int = 0
    reasons: tuple[str, ...] = ()  # why what is left is left, one line each ("ETHUSDT: close not sent: ...")


class ReconcileItem(msgspec.Struct, frozen=True):
    """One difference between local state and the exchange, with the action proposed for it."""

    kind: ReconcileKind
    symbol: str
    local: str  # what we believe, in words
    exchange: str  # what the exchange says, in words
    action: ReconcileAction
    detail: str = ""


class ReconcileReport(msgspec.Struct, frozen=True):
    ts_ms: int
    items: tuple[ReconcileItem, ...]
    positions: int
    open_orders: int
    open_conditional_orders: int
    balance: float

    @property
    def is_clean(self) -> bool:
        return not self.items


class RuntimeControl(Protocol):
    """Operator commands and the read side. Everything returns quickly or is awaited by the caller."""

    def snapshot(self) -> RuntimeSnapshot: ...

    def sensor_detail(self, symbol: str) -> tuple[SensorVoteRow, ...]: ...

    def trade_history(self) -> TradeHistory:
        """The closed trades; the same object until one more closes (compare `version`), so it is cheap."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    @property
    def is_paused(self) -> bool: ...

    @property
    def open_position_count(self) -> int: ...

    async def sweep(self) -> SweepResult: ...

    async def reconcile(self, apply: bool = False) -> ReconcileReport:
        """Compare with the exchange; with `apply`, carry out the proposed actions and journal them."""
        ...

    def request_stop(self, sweep: bool | None = None) -> None:
        """Begin the orderly shutdown (`sweep`: None = config default)."""
        ...

    def confirm_live(self) -> None:
        """The operator typed the LIVE confirmation: trading may start (nothing can trade before)."""
        ...
