"""Small Binance public data files for tests: klines and aggTrades rows, written plain or zipped, with or
without the header row, times in ms or µs."""

from __future__ import annotations

import zipfile
from pathlib import Path

KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
AGG_TRADES_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def agg_row(
    agg_id: int, price: str, qty: str, ts_ms: int, maker: bool = False, *, micros: bool = False
) -> str:
    ts = ts_ms * 1000 if micros else ts_ms
    return f"{agg_id},{price},{qty},{agg_id * 3},{agg_id * 3 + 2},{ts},{str(maker).lower()}"


def kline_row(
    open_ms: int, o: str, h: str, lo: str, c: str, v: str, interval_ms: int = 60_000, *, micros: bool = False
) -> str:
    close_ms = open_ms + interval_ms - 1
    if micros:
        open_text, close_text = str(open_ms * 1000), str(close_ms * 1000 + 999)
    else:
        open_text, close_text = str(open_ms), str(close_ms)
    return f"{open_text},{o},{h},{lo},{c},{v},{close_text},123.4,42,1.5,2.5,0"


def write_csv(path: Path, rows: list[str], *, header: str | None = None, zipped: bool = False) -> Path:
    """Write `rows` to `path` (a .csv name), or into `path` with .zip for a suffix holding that CSV."""
    text = "\n".join(([header] if header else []) + rows) + "\n"
    if not zipped:
        path.write_text(text)
        return path
    target = path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.name, text)
    return target
