"""How snapshot values become short, coloured cell text (Rich markup) for the console's panes.

Every function returns a markup string so a table can tell a changed cell from an unchanged one by plain
string comparison before it touches the widget.
"""

from __future__ import annotations

import math
import time

from rich.markup import escape

# Colours of the pinned textual-dark theme, so cells match the widgets around them.
GREEN = "#4EBF71"
RED = "#E5534B"
YELLOW = "#FFA62B"
DIM = "#7F8C99"
ACCENT = "#0178D4"

SPARK_CHARS = "▁▂▃▄▅▆▇█"
NOTHING = f"[{DIM}]·[/]"


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1: '1 open order', '3 open orders'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def signed_colour(value: float) -> str:
    """Green for gains, red for losses, dim for exactly zero."""
    if value > 0:
        return GREEN
    if value < 0:
        return RED
    return DIM


def price_decimals(price: float) -> int:
    """Decimals that suit a price's magnitude: 2 for BTC, 3 for LINK, 4 for XRP, 8 for a sub-cent coin.

    Five significant digits above 1, four below, never fewer than 2 decimals.
    """
    magnitude = abs(price)
    if magnitude == 0 or math.isinf(magnitude):
        return 2
    exponent = math.floor(math.log10(magnitude))
    if magnitude >= 1:
        return max(2, 4 - exponent)
    return min(3 - exponent, 10)


def price(value: float) -> str:
    """A price to its magnitude's decimals, or a dim dot when there is none (0 or NaN)."""
    if not value or math.isnan(value):
        return NOTHING
    return f"{value:.{price_decimals(value)}f}"


def qty(value: float) -> str:
    """A quantity with at most 4 decimals and no trailing zeros."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def money(value: float) -> str:
    """An amount of quote currency with thousands separators: 10,012.34."""
    return f"{value:,.2f}"


def signed_money(value: float) -> str:
    """A signed amount coloured by its sign: [green]+12.34[/]."""
    return f"[{signed_colour(value)}]{value:+,.2f}[/]"


def signed_pct(value: float) -> str:
    """A signed percentage coloured by its sign."""
    return f"[{signed_colour(value)}]{value:+.2f}%[/]"


def age(seconds: float | None) -> str:
    """A compact duration: 0.4s, 12s, 7m, 3h, 2d."""
    if seconds is None or math.isnan(seconds):
        return NOTHING
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"


def stream_age(seconds: float) -> str:
    """A stream's last-message age; yellow past 5 s and red past 30 s, when the symbol has gone quiet."""
    text = age(seconds)
    if seconds >= 30:
        return f"[{RED}]{text}[/]"
    if seconds >= 5:
        return f"[{YELLOW}]{text}[/]"
    return text


def sparkline(values: tuple[float, ...], width: int) -> str:
    """The last `width` values as ▁▂▃▄▅▆▇█ scaled to their own range, green if they end higher."""
    recent = values[-width:]
    if not recent:
        return NOTHING
    low, high = min(recent), max(recent)
    span = high - low
    top = len(SPARK_CHARS) - 1
    if span <= 0:
        chars = SPARK_CHARS[top // 2] * len(recent)
    else:
        chars = "".join(SPARK_CHARS[round((v - low) / span * top)] for v in recent)
    return f"[{signed_colour(recent[-1] - recent[0])}]{chars}[/]"


def score_bar(score: float, cells: int = 8) -> str:
    """A consensus score in [-1, 1] as ▕████░░░░▏ +0.42: the filled share is |score|, coloured by sign."""
    clamped = max(-1.0, min(1.0, score))
    filled = round(abs(clamped) * cells)
    colour = signed_colour(clamped)
    bar = f"[{colour}]{'█' * filled}[/][{DIM}]{'░' * (cells - filled)}[/]"
    return f"▕{bar}▏ [{colour}]{clamped:+.2f}[/]"


def votes(longs: int, shorts: int, neutrals: int) -> str:
    """Long/short/neutral vote counts, long in green and short in red."""
    return f"[{GREEN}]{longs}[/]/[{RED}]{shorts}[/]/[{DIM}]{neutrals}[/]"


def trend_arrow(trend: int) -> str:
    """The higher-timeframe trend: ▲ up, ▼ down, · flat."""
    if trend > 0:
        return f"[{GREEN}]▲[/]"
    if trend < 0:
        return f"[{RED}]▼[/]"
    return NOTHING


def side(value: str) -> str:
    """LONG in green, SHORT in red (also accepts BUY/SELL)."""
    upper = value.upper()
    if upper in ("LONG", "BUY"):
        return f"[{GREEN}]{escape(value)}[/]"
    if upper in ("SHORT", "SELL"):
        return f"[{RED}]{escape(value)}[/]"
    return escape(value)


def percent_of(used: float, limit: float) -> float:
    """`used` as a percentage of `limit` (0 when there is no limit)."""
    return 100.0 * used / limit if limit > 0 else 0.0


def headroom(used: float, limit: float) -> str:
    """A usage percentage coloured by how close it is to the limit (yellow ≥ 60 %, red ≥ 80 %)."""
    pct = percent_of(used, limit)
    colour = RED if pct >= 80 else YELLOW if pct >= 60 else GREEN
    return f"[{colour}]{pct:.0f}%[/]"


def utc_clock(clock_ms: int) -> str:
    """Milliseconds since the epoch as a UTC wall-clock time, HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.gmtime(clock_ms / 1000))
