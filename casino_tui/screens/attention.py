"""What keeps a table of hundreds of symbols usable: rows needing attention first, and a filter by typing.

The filter narrows the symbol tables to symbols containing the typed text; what needs attention most (an
unprotected position) is never filtered away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from textual.binding import Binding
from textual.widgets import Input

from casino_tui.snapshot import ConsensusRow, StreamRow

Row = TypeVar("Row")

QUIET_S = 30.0  # a stream this long without a trade is quiet (red in the pane)
SLOW_S = 5.0  # ...and this long, slow (yellow)
SCORE_STEP = 0.1  # consensus scores are ranked in steps of this size, so rows do not swap on every candle


def matches(symbol: str, text: str) -> bool:
    """True if `symbol` contains `text` (case-insensitive); an empty filter matches everything."""
    return text.strip().upper() in symbol.upper()


def narrowed(
    rows: Iterable[Row],
    text: str,
    symbol: Callable[[Row], str],
    keep: Callable[[Row], bool] = lambda _: False,
) -> list[Row]:
    """The rows whose symbol matches `text`, plus those `keep` says must stay in view whatever the filter."""
    return [row for row in rows if keep(row) or matches(symbol(row), text)]


def stream_attention(row: StreamRow) -> int:
    """0 for a quiet stream, 1 for a slow one, 2 for the rest."""
    if row.age_s >= QUIET_S:
        return 0
    return 1 if row.age_s >= SLOW_S else 2


def streams_by_attention(rows: Iterable[StreamRow]) -> list[StreamRow]:
    """Quiet streams first, then slow ones, then the rest; the runtime's order within each."""
    return sorted(rows, key=stream_attention)


def consensus_attention(row: ConsensusRow) -> tuple[bool, float]:
    """Degraded shards first, then the strongest scores (in steps of `SCORE_STEP`)."""
    return (not row.is_degraded, -round(abs(row.score) / SCORE_STEP))


def consensus_by_attention(rows: Iterable[ConsensusRow]) -> list[ConsensusRow]:
    """Symbols whose sensors are degraded first, then the strongest signals; the runtime's order on ties."""
    return sorted(rows, key=consensus_attention)


def shown_count(shown: int, total: int, noun: str) -> str:
    """'8 symbols', or '3 of 50 symbols' while a filter hides some."""
    if shown == total:
        return f"{total} {noun}"
    return f"{shown} of {total} {noun}"


class FilterBar(Input):
    """The filter input (`/` opens it): typing narrows the symbol tables, Enter keeps the filter and returns
    to the tables, Esc clears it."""

    BINDINGS = [Binding("escape", "app.clear_filter", "Clear filter", show=False)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter symbols (Enter keeps, Esc clears)", id=id)
        self.display = False
