"""Kline intervals: their lengths and where a candle of each begins (UTC, weeks start on Monday)."""

from __future__ import annotations

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; Binance's weekly candles open on Mondays.
_MONDAY_OFFSET_MS = 4 * DAY_MS

INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": WEEK_MS,
}


def open_time(ts_ms: int, interval: str) -> int:
    """Start of the candle of `interval` that contains `ts_ms`."""
    length = INTERVAL_MS[interval]
    if interval == "1w":
        return (ts_ms - _MONDAY_OFFSET_MS) // length * length + _MONDAY_OFFSET_MS
    return ts_ms // length * length
