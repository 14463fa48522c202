"""The simulated market: seeded, correlated price paths with regimes, bursty trades, and 1m candle history.

Each symbol's log price is a common market factor plus idiosyncratic noise, in regimes that switch between
trending (drift) and ranging (mean reversion to the level where the regime began). Live time is generated
one simulated minute at a time, for all symbols at once with numpy: a per-second path, a Poisson number of
trades per second with a fluctuating rate, and the trades placed on that path with a little bid/ask noise.
History before `start_ms` is generated backwards from the start price in day blocks, so its last close
is the first live price. Everything derives from the seed: the path of a symbol (and its history) depends
only on (seed, symbol); the exact trade times and sizes also depend on the symbol list.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from casino_tui.model import TIMEFRAME_MS, Candle, SymbolRules, Trade

MINUTE_MS = 60_000
DAY_MINUTES = 1440
# Oldest history kept reachable: enough for 1500 1h candles (Binance's kline limit) with room to spare.
MAX_HISTORY_DAYS = 120
_MICRO_NOISE = 3e-5  # bid/ask bounce of trade prices around the path, in log units (0.3 bp)
# Stream ids for the seeded generators: each random quantity has its own stream so adding a draw to one
# part of the model does not shift every other number.
_HIST_REGIME, _HIST_NOISE, _HIST_MARKET, _LIVE_REGIME, _LIVE_NOISE, _LIVE_MARKET, _LIVE_TRADES = range(7)


class GeneratorState(msgspec.Struct, frozen=True, array_like=True):
    """Where a PCG64 generator stands: its 128-bit state and increment, and a buffered half of a 64-bit draw."""

    state: int
    inc: int
    has_uint32: int
    uinteger: int


class MarketState(msgspec.Struct, kw_only=True):
    """Where a SimMarket stands, apart from its closed 1m candles (saved separately: they only grow).

    The minute being emitted is kept as the state it began with (prices, anchors, generators), so a restored
    market regenerates it to the same numbers and continues exactly where this one was. `minute` is its
    index among the live minutes, -1 before the first one; the candles of the minutes before it are saved.
    """

    seed: int
    symbols: list[str]
    start_ms: int
    cursor_ms: int
    minute: int
    log_prices: list[float]
    anchors: list[float]
    # One per symbol (its noise and trade counts), then the market factor's, then the trade placer's.
    generators: list[GeneratorState]
    last_prices: dict[str, float]


def _generator_state(raw: Mapping[str, Any]) -> GeneratorState:
    """The `bit_generator.state` dict of a PCG64 as a GeneratorState."""
    return GeneratorState(raw["state"]["state"], raw["state"]["inc"], raw["has_uint32"], raw["uinteger"])


def _set_generator(generator: np.random.Generator, saved: GeneratorState) -> None:
    generator.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": saved.state, "inc": saved.inc},
        "has_uint32": saved.has_uint32,
        "uinteger": saved.uinteger,
    }


class SymbolProfile(msgspec.Struct, frozen=True):
    """How one symbol moves: start price, 1m volatility, trades per second, market beta, trade size."""

    price: float
    sigma_1m: float
    trades_per_s: float
    rho: float
    median_notional: float


def _rules(
    symbol: str, tick: str, step: str, max_qty: str, market_max: str, notional: str, min_p: str, max_p: str
) -> SymbolRules:
    return SymbolRules(
        symbol=symbol,
        tick_size=tick,
        step_size=step,
        min_qty=step,
        max_qty=max_qty,
        min_notional=notional,
        market_max_qty=market_max,
        min_price=min_p,
        max_price=max_p,
        base_asset=symbol.removesuffix("USDT"),
    )


# Filters as Binance USD-M lists them (exchangeInfo), to the best of our knowledge.
SIM_SYMBOLS: dict[str, SymbolRules] = {
    "BTCUSDT": _rules("BTCUSDT", "0.1", "0.001", "1000", "120", "100", "556.8", "4529764"),
    "ETHUSDT": _rules("ETHUSDT", "0.01", "0.001", "10000", "2000", "20", "39.86", "306177"),
    "SOLUSDT": _rules("SOLUSDT", "0.01", "1", "1000000", "5000", "5", "0.42", "6857"),
    "BNBUSDT": _rules("BNBUSDT", "0.01", "0.01", "100000", "2000", "5", "6.6", "100000"),
    "XRPUSDT": _rules("XRPUSDT", "0.0001", "0.1", "10000000", "2000000", "5", "0.0143", "100000"),
    "DOGEUSDT": _rules("DOGEUSDT", "0.00001", "1", "50000000", "30000000", "5", "0.00244", "30"),
    "ADAUSDT": _rules("ADAUSDT", "0.0001", "1", "10000000", "5000000", "5", "0.0174", "15"),
    "LINKUSDT": _rules("LINKUSDT", "0.001", "0.01", "2000000", "10000", "5", "0.46", "200000"),
}

SIM_PROFILES: dict[str, SymbolProfile] = {
    "BTCUSDT": SymbolProfile(95_000.0, 0.0007, 14.0, 0.90, 4000.0),
    "ETHUSDT": SymbolProfile(3_400.0, 0.0009, 12.0, 0.85, 2500.0),
    "SOLUSDT": SymbolProfile(180.0, 0.0013, 10.0, 0.80, 1500.0),
    "BNBUSDT": SymbolProfile(650.0, 0.0008, 6.0, 0.75, 1000.0),
    "XRPUSDT": SymbolProfile(2.3, 0.0012, 9.0, 0.75, 1200.0),
    "DOGEUSDT": SymbolProfile(0.32, 0.0014, 8.0, 0.75, 800.0),
    "ADAUSDT": SymbolProfile(0.9, 0.0013, 6.0, 0.72, 600.0),
    "LINKUSDT": SymbolProfile(22.0, 0.0013, 5.0, 0.72, 600.0),
}

_SYNTHETIC = re.compile(r"^SYN(\d{3,})USDT$")


def synthetic_symbols(n: int) -> list[str]:
    """`n` symbol names: the 8 majors first, then generated ones ("SYN001USDT", ...) for benchmarks."""
    majors = list(SIM_SYMBOLS)
    return majors[:n] + [f"SYN{i:03d}USDT" for i in range(1, max(0, n - len(majors)) + 1)]


def _synthetic_spec(symbol: str) -> tuple[SymbolRules, SymbolProfile]:
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    price = float(np.exp(rng.uniform(np.log(0.05), np.log(300.0))))
    tick_exp = int(np.floor(np.log10(price))) - 4  # a tick of 1-10 bp, like most Binance listings
    step_exp = min(3, int(np.floor(np.log10(5.0 / price))))  # one step is worth 0.5-5 USDT
    tick = f"{Decimal(1).scaleb(tick_exp):f}"
    step = f"{Decimal(1).scaleb(step_exp):f}"
    rules = _rules(symbol, tick, step, "10000000", "1000000", "5", tick, "0")
    profile = SymbolProfile(
        price=float(rules.snap_price(price)),
        sigma_1m=float(rng.uniform(0.0008, 0.0018)),
        trades_per_s=float(rng.uniform(3.0, 8.0)),
        rho=float(rng.uniform(0.5, 0.8)),
        median_notional=float(rng.uniform(200.0, 1500.0)),
    )
    return rules, profile


def sim_symbol(symbol: str) -> tuple[SymbolRules, SymbolProfile]:
    """Filters and motion of a symbol the sim knows; ValueError("unknown symbol: X") otherwise."""
    if symbol in SIM_SYMBOLS:
        return SIM_SYMBOLS[symbol], SIM_PROFILES[symbol]
    if _SYNTHETIC.match(symbol):
        return _synthetic_spec(symbol)
    raise ValueError(f"unknown symbol: {symbol}")


def _grid(step: str) -> tuple[float, float]:
    """(numerator, scale) with step == numerator / scale exactly, so n * numerator / scale is exact."""
    d = Decimal(step).normalize()
    exp = d.as_tuple().exponent
    scale = 10.0 ** max(0, -exp) if isinstance(exp, int) else 1.0
    return float(d * Decimal(scale)), scale


def _regimes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-minute regime parameters for `n` minutes: rows drift (in sigmas/min), kappa, vol and rate multipliers, reset."""
    out = np.zeros((5, n))
    t = 0
    while t < n:
        if rng.random() < 0.5:  # trending, up or down
            length = 15 + int(rng.exponential(60.0))
            drift, kappa, vol = rng.choice((-1.0, 1.0)) * rng.uniform(0.08, 0.3), 0.0, 1.15
        else:  # ranging: pulled back to the level where the regime began
            length = 20 + int(rng.exponential(100.0))
            drift, kappa, vol = 0.0, rng.uniform(0.03, 0.1), 0.85
        vol *= min(2.0, max(0.5, rng.lognormal(-0.045, 0.3)))
        rate = vol**0.8 * rng.lognormal(-0.06, 0.35)  # busy markets are volatile markets
        out[:4, t : t + length] = np.array([[drift], [kappa], [vol], [rate]])
        out[4, t] = 1.0
        t += length
    return out


def _ar1(x: np.ndarray, a: float) -> np.ndarray:
    """d[t] = a * d[t-1] + x[t] with d[-1] = 0, vectorised in chunks short enough to stay exact."""
    out = np.empty_like(x)
    carry = 0.0
    for lo in range(0, len(x), 256):
        chunk = x[lo : lo + 256]
        p = a ** np.arange(1, len(chunk) + 1)
        out[lo : lo + len(chunk)] = p * (carry + np.cumsum(chunk / p))
        carry = float(out[lo + len(chunk) - 1])
    return out


class SimMarket:
    """Seeded market for `symbols` whose live part begins at `start_ms`; unknown symbols raise ValueError."""

    def __init__(self, symbols: list[str], seed: int, start_ms: int) -> None:
        specs = [sim_symbol(s) for s in symbols]
        if len(set(symbols)) != len(symbols):
            raise ValueError("duplicate symbols")
        self.symbols = list(symbols)
        self.rules: dict[str, SymbolRules] = {s: r for s, (r, _) in zip(symbols, specs, strict=True)}
        self.profiles: dict[str, SymbolProfile] = {s: p for s, (_, p) in zip(symbols, specs, strict=True)}
        self.seed = seed & 0xFFFF_FFFF_FFFF_FFFF  # numpy's seed sequences take non-negative integers
        self.start_ms = start_ms
        self._index = {s: i for i, s in enumerate(symbols)}
        self._keys = [zlib.crc32(s.encode()) for s in symbols]
        n = len(symbols)
        self._names = np.array(symbols, dtype=object)
        prof = [p for _, p in specs]
        self._sigma = np.array([p.sigma_1m for p in prof])
        self._rate = np.array([p.trades_per_s for p in prof])
        self._rho = np.array([p.rho for p in prof])
        self._notional = np.array([p.median_notional for p in prof])
        grids = [(_grid(r.tick_size), _grid(r.step_size)) for r, _ in specs]
        self._tick_num: npt.NDArray[np.float64] = np.array([g[0][0] for g in grids])
        self._tick_scale: npt.NDArray[np.float64] = np.array([g[0][1] for g in grids])
        self._step_num: npt.NDArray[np.float64] = np.array([g[1][0] for g in grids])
        self._step_scale: npt.NDArray[np.float64] = np.array([g[1][1] for g in grids])
        # History: per symbol, day blocks back from the start (block 0 ends at the start) and their end prices.
        self._m0 = start_ms // MINUTE_MS * MINUTE_MS
        self._hist: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
        self._hist_end: list[list[float]] = [[float(np.log(p.price))] for p in prof]
        self._hist_market: dict[int, np.ndarray] = {}
        # Live state: log price, regime anchor, generators, and the 1m candles made so far.
        self._logp = np.log(np.array([p.price for p in prof]))
        self._anchor = self._logp.copy()
        seed = self.seed
        self._rngs = [np.random.Generator(np.random.PCG64([seed, k, _LIVE_NOISE])) for k in self._keys]
        self._market_rng = np.random.Generator(np.random.PCG64([seed, 0, _LIVE_MARKET]))
        self._trade_rng = np.random.Generator(np.random.PCG64([seed, 0, _LIVE_TRADES, n]))
        self._generators = [*self._rngs, self._market_rng, self._trade_rng]
        self._regime_day = -1
        self._regime = np.zeros((n, 5, DAY_MINUTES))
        self._live = np.zeros((64, n, 6))  # [minute, symbol, (open, high, low, close, volume, trades)]
        self._live_minutes = 0
        # What the minute in progress began with (prices, anchors, generator states), for `state()`.
        self._minute_start: tuple[np.ndarray, np.ndarray, list[Mapping[str, Any]]] | None = None
        # The chunk of trades being emitted (one simulated minute, in time order).
        self._chunk_t0 = self._m0 - MINUTE_MS
        self._chunk_path: npt.NDArray[np.float64] = np.repeat(self._logp[:, None], 61, axis=1)
        self._ts = np.zeros(0, dtype=np.int64)
        self._price = self._qty = np.zeros(0)
        self._maker = np.zeros(0, dtype=bool)
        self._sym = np.zeros(0, dtype=np.uint16)
        self._pos = 0
        self._start_close = np.array([r.snap_price(p.price) for r, p in specs])
        self._last: dict[str, float] = dict(zip(symbols, self._start_close.tolist(), strict=True))
        self.cursor_ms = self._m0 - 1  # every trade with ts_ms <= cursor_ms has been emitted
        self.advance(start_ms - 1)  # trades of the start minute that happened before start_ms

    # -- live trades -----------------------------------------------------------------------------------

    def advance(self, until_ms: int) -> list[Trade]:
        """Every trade after the previous call up to and including `until_ms`, in time order."""
        out: list[Trade] = []
        while until_ms > self.cursor_ms:
            end = int(np.searchsorted(self._ts, until_ms, side="right"))
            if end > self._pos:
                self._emit(self._pos, end, out)
                self._pos = end
            if end < len(self._ts) or self._chunk_t0 + MINUTE_MS > until_ms:
                self.cursor_ms = until_ms
                break
            self._generate_minute()
        return out

    def _emit(self, lo: int, hi: int, out: list[Trade]) -> None:
        names = self._names[self._sym[lo:hi]].tolist()
        prices = self._price[lo:hi].tolist()
        self._last.update(zip(names, prices, strict=True))  # the last trade of each symbol wins
        if self._ts[lo] < self.start_ms:  # the start minute's pre-start trades are history, not stream
            return
        out.extend(
            map(
                Trade,
                names,
                prices,
                self._qty[lo:hi].tolist(),
                self._ts[lo:hi].tolist(),
                self._maker[lo:hi].tolist(),
            )
        )

    def _live_regime(self, day: int) -> None:
        if day != self._regime_day:
            for i, key in enumerate(self._keys):
                rng = np.random.Generator(np.random.PCG64([self.seed, key, _LIVE_REGIME, day]))
                self._regime[i] = _regimes(rng, DAY_MINUTES)
            self._regime_day = day

    def _generate_minute(self) -> None:
        """Generate the next simulated minute for every symbol: path, trades, and its 1m candle."""
        k = self._live_minutes
        t0 = self._m0 + k * MINUTE_MS
        # Both arrays are replaced, never written in place, below: keeping references is enough.
        self._minute_start = (self._logp, self._anchor, [g.bit_generator.state for g in self._generators])
        self._live_regime(k // DAY_MINUTES)
        drift_u, kappa, vol, rate_m, reset = self._regime[:, :, k % DAY_MINUTES].T
        self._anchor = np.where(reset > 0, self._logp, self._anchor)
        sig = self._sigma * vol
        drift = drift_u * self._sigma - kappa * (self._logp - self._anchor)
        n = len(self.symbols)
        f = self._market_rng.standard_normal(60)
        lam = self._rate * rate_m
        idio = np.empty((n, 60))
        counts = np.empty((n, 60), dtype=np.int64)
        for i, rng in enumerate(self._rngs):
            idio[i] = rng.standard_normal(60)
            # Gamma-mixed Poisson (negative binomial): bursts of activity, mean rate preserved.
            counts[i] = rng.negative_binomial(1.5, 1.5 / (1.5 + lam[i]), 60)
        x = self._rho[:, None] * f + np.sqrt(1.0 - self._rho**2)[:, None] * idio
        steps = x * (sig / np.sqrt(60.0))[:, None] + (drift / 60.0)[:, None]
        path = np.empty((n, 61))
        path[:, 0] = self._logp
        np.cumsum(steps, axis=1, out=path[:, 1:])
        path[:, 1:] += self._logp[:, None]
        self._logp = path[:, 60].copy()

        rng = self._trade_rng
        cells = np.repeat(np.arange(n * 60, dtype=np.int64), counts.ravel())
        offset = (cells % 60) * 1000 + rng.integers(0, 1000, len(cells))
        key = np.sort((offset << 16) | (cells // 60))  # time order, ties by symbol
        sym = (key & 0xFFFF).astype(np.uint16)
        offset = key >> 16
        sec = offset // 1000
        frac = (offset % 1000 + 0.5) / 1000.0
        flat = path.ravel()
        base = sym.astype(np.int64) * 61 + sec
        noise = rng.standard_normal(len(key))
        logp = flat[base] + frac * (flat[base + 1] - flat[base]) + _MICRO_NOISE * noise
        price = np.exp(logp)
        tn, ts_ = self._tick_num[sym], self._tick_scale[sym]
        price = np.rint(price * ts_ / tn) * tn / ts_
        notional = self._notional[sym] * rng.lognormal(0.0, 1.0, len(key))
        sn, ss = self._step_num[sym], self._step_scale[sym]
        qty = np.maximum(np.floor(notional / price * ss / sn), 1.0) * sn / ss

        self._chunk_t0 = t0
        self._chunk_path = path
        self._ts = t0 + offset
        self._price, self._qty, self._sym, self._maker = price, qty, sym, noise < 0.0
        self._pos = 0
        self._record_candles(price, qty, sym, counts.sum(axis=1))

    def _record_candles(
        self, price: np.ndarray, qty: np.ndarray, sym: np.ndarray, per_symbol: np.ndarray
    ) -> None:
        n = len(self.symbols)
        if self._live_minutes == len(self._live):
            self._live = np.concatenate([self._live, np.zeros_like(self._live)])
        prev_close = self._live[self._live_minutes - 1, :, 3] if self._live_minutes else self._start_close
        row = np.zeros((n, 6))
        row[:, 0] = row[:, 1] = row[:, 2] = row[:, 3] = prev_close  # a symbol without trades stays flat
        order = np.argsort(sym, kind="stable")  # by symbol, in time order within each
        p, q = price[order], qty[order]
        has = per_symbol > 0
        starts = (np.cumsum(per_symbol) - per_symbol)[has]
        if len(starts):
            row[has, 0] = p[starts]
            row[has, 1] = np.maximum.reduceat(p, starts)
            row[has, 2] = np.minimum.reduceat(p, starts)
            row[has, 3] = p[starts + per_symbol[has] - 1]
            row[has, 4] = np.round(np.add.reduceat(q, starts), 8)
        row[:, 5] = per_symbol
        self._live[self._live_minutes] = row
        self._live_minutes += 1

    # -- prices ----------------------------------------------------------------------------------------

    def _i(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise ValueError(f"unknown symbol: {symbol}") from None

    def last_price(self, symbol: str) -> float:
        """Price of the symbol's last trade at or before the cursor (the start price before any trade)."""
        try:
            return self._last[symbol]
        except KeyError:
            raise ValueError(f"unknown symbol: {symbol}") from None

    def last_prices(self) -> dict[str, float]:
        """Last trade price of every symbol (a copy)."""
        return dict(self._last)

    def mark_price(self, symbol: str) -> float:
        """The noise-free path at the cursor, snapped to the tick: close to, but not always equal to, last."""
        return float(self._marks(self._i(symbol)))

    def mark_prices(self) -> dict[str, float]:
        """Mark price of every symbol at the cursor, computed in one vectorised step."""
        return dict(zip(self.symbols, self._marks(slice(None)).tolist(), strict=True))

    def _marks(self, which: int | slice) -> np.ndarray:
        sec = min(60, max(0, (self.cursor_ms - self._chunk_t0) // 1000))
        num, scale = self._tick_num[which], self._tick_scale[which]
        return np.rint(np.exp(self._chunk_path[which, sec]) * scale / num) * num / scale

    # -- candles ---------------------------------------------------------------------------------------

    def _hist_rows(self, i: int, block: int) -> np.ndarray:
        """1m candles [open, high, low, close, volume, trades] of history day `block` (0 ends at the start)."""
        cache = self._hist[i]
        while block not in cache:
            self._make_history_block(i, len(cache))
        return cache[block]

    def _make_history_block(self, i: int, block: int) -> None:
        seed, key = self.seed, self._keys[i]
        reg = _regimes(np.random.Generator(np.random.PCG64([seed, key, _HIST_REGIME, block])), DAY_MINUTES)
        rng = np.random.Generator(np.random.PCG64([seed, key, _HIST_NOISE, block]))
        if block not in self._hist_market:
            mrng = np.random.Generator(np.random.PCG64([seed, 0, _HIST_MARKET, block]))
            self._hist_market[block] = mrng.standard_normal(DAY_MINUTES)
        rho = self._rho[i]
        z = rho * self._hist_market[block] + np.sqrt(1.0 - rho * rho) * rng.standard_normal(DAY_MINUTES)
        sig = self._sigma[i] * reg[2]
        x = sig * z
        rel = np.empty(DAY_MINUTES)
        level = 0.0
        starts = [*np.flatnonzero(reg[4]).tolist(), DAY_MINUTES]
        for a, b in zip(starts[:-1], starts[1:], strict=False):
            kappa = reg[1, a]
            if kappa > 0:
                rel[a:b] = level + _ar1(x[a:b], 1.0 - kappa)
            else:
                rel[a:b] = level + np.cumsum(x[a:b] + reg[0, a] * self._sigma[i])
            level = float(rel[b - 1])
        end = self._hist_end[i][block]
        close_log = end - rel[-1] + rel
        self._hist_end[i].append(end - rel[-1])
        tn, ts_ = self._tick_num[i], self._tick_scale[i]
        close = np.exp(close_log)
        opn = np.exp(np.concatenate([[end - rel[-1]], close_log[:-1]]))
        high = np.maximum(opn, close) * np.exp(0.45 * sig * np.abs(rng.standard_normal(DAY_MINUTES)))
        low = np.minimum(opn, close) * np.exp(-0.45 * sig * np.abs(rng.standard_normal(DAY_MINUTES)))
        rows = np.empty((DAY_MINUTES, 6))
        for col, v in enumerate((opn, high, low, close)):
            rows[:, col] = np.rint(v * ts_ / tn) * tn / ts_
        rows[:, 1] = rows[:, :4].max(axis=1)
        rows[:, 2] = rows[:, :4].min(axis=1)
        lam = self._rate[i] * reg[3] * 60.0 * rng.gamma(8.0, 1.0 / 8.0, DAY_MINUTES)
        trades = rng.poisson(lam)
        mean_qty = self._notional[i] * np.exp(0.5) / close
        rows[:, 4] = np.round(trades * mean_qty * rng.lognormal(-0.02, 0.2, DAY_MINUTES), 8)
        rows[:, 5] = trades
        self._hist[i][block] = rows

    def _rows(self, i: int, k0: int, count: int) -> np.ndarray:
        """1m rows of relative minutes k0 .. k0+count-1 (negative: history, 0: the start minute)."""
        parts = []
        k = k0
        stop = k0 + count
        while k < min(stop, 0):
            block = (-k - 1) // DAY_MINUTES
            lo = k + (block + 1) * DAY_MINUTES
            hi = min(DAY_MINUTES, lo + (min(stop, 0) - k))
            parts.append(self._hist_rows(i, block)[lo:hi])
            k += hi - lo
        if stop > max(k0, 0):
            parts.append(self._live[max(k0, 0) : stop, i])
        return np.concatenate(parts) if parts else np.zeros((0, 6))

    def klines(self, symbol: str, timeframe: str, limit: int, end_ms: int | None = None) -> list[Candle]:
        """Up to `limit` closed candles, oldest first, that closed by `end_ms` and by the cursor."""
        i = self._i(symbol)
        if timeframe not in TIMEFRAME_MS:
            raise ValueError(f"unsupported timeframe: {timeframe}")
        tf = TIMEFRAME_MS[timeframe]
        end = min(self.cursor_ms + 1 if end_ms is None else end_ms, self.cursor_ms + 1)
        last_open = end // tf * tf - tf
        oldest = self._m0 - MAX_HISTORY_DAYS * DAY_MINUTES * MINUTE_MS
        first_open = max(last_open - (max(limit, 0) - 1) * tf, -(-oldest // tf) * tf)
        if last_open < first_open:
            return []
        per = tf // MINUTE_MS
        buckets = (last_open - first_open) // tf + 1
        rows = self._rows(i, (first_open - self._m0) // MINUTE_MS, buckets * per).reshape(buckets, per, 6)
        agg = np.column_stack(
            [
                rows[:, 0, 0],
                rows[:, :, 1].max(1),
                rows[:, :, 2].min(1),
                rows[:, -1, 3],
                rows[:, :, 4].sum(1),
                rows[:, :, 5].sum(1),
            ]
        )
        agg[:, 4] = np.round(agg[:, 4], 8)
        return [
            Candle(symbol, timeframe, first_open + j * tf, o, h, lo, c, v, int(n))
            for j, (o, h, lo, c, v, n) in enumerate(agg.tolist())
        ]

    def history(self, symbol: str, end_ms: int | None = None, minutes: int = 1000) -> list[Candle]:
        """The `minutes` 1m candles that closed by `end_ms` (default: the start), history joined to live."""
        return self.klines(symbol, "1m", minutes, self.start_ms if end_ms is None else end_ms)

    # -- saving ----------------------------------------------------------------------------------------

    def state(self) -> MarketState:
        """Where the market stands now; with `candle_rows(0, state.minute)` it is all `resume` needs."""
        if self._minute_start is None:
            logp, anchor, generators = self._logp, self._anchor, []
        else:
            logp, anchor, raw = self._minute_start
            generators = [_generator_state(g) for g in raw]
        return MarketState(
            seed=self.seed,
            symbols=list(self.symbols),
            start_ms=self.start_ms,
            cursor_ms=self.cursor_ms,
            minute=self._live_minutes - 1,
            log_prices=logp.tolist(),
            anchors=anchor.tolist(),
            generators=generators,
            last_prices=dict(self._last),
        )

    @property
    def candle_row_bytes(self) -> int:
        """Size of one live minute's candles, all symbols (the unit of `candle_rows`)."""
        return len(self.symbols) * 6 * 8

    def candle_rows(self, first: int, stop: int) -> bytes:
        """Live minutes `first` .. `stop`-1 as raw little-endian float64 [symbol, (o, h, l, c, volume, trades)]."""
        return self._live[first:stop].astype("<f8", copy=False).tobytes()

    @classmethod
    def resume(cls, state: MarketState, candles: bytes) -> SimMarket:
        """The market `state` describes, its first `state.minute` live minutes taken from `candles`.

        Raises ValueError if the two do not fit together (wrong sizes, unknown symbols).
        """
        market = cls(state.symbols, state.seed, state.start_ms)
        if state.minute < 0:  # saved before its first live minute: the new market is that market
            return market
        n = len(market.symbols)
        if (len(state.log_prices), len(state.anchors), len(state.generators)) != (n, n, n + 2) or not (
            state.last_prices.keys() <= market.rules.keys()
        ):
            raise ValueError(f"market state does not fit its {n} symbols")
        if len(candles) != state.minute * market.candle_row_bytes:
            raise ValueError(f"{len(candles)} bytes of candles for {state.minute} minutes of {n} symbols")
        rows = np.frombuffer(candles, dtype="<f8").reshape(state.minute, n, 6)
        market._live = np.zeros((max(64, 2 * (state.minute + 1)), n, 6))
        market._live[: state.minute] = rows
        market._live_minutes = state.minute
        market._logp = np.array(state.log_prices)
        market._anchor = np.array(state.anchors)
        for generator, saved in zip(market._generators, state.generators, strict=True):
            _set_generator(generator, saved)
        market._generate_minute()
        if not market._chunk_t0 - 1 <= state.cursor_ms < market._chunk_t0 + MINUTE_MS:
            raise ValueError(f"cursor {state.cursor_ms} is not in live minute {state.minute}")
        market.cursor_ms = state.cursor_ms
        market._pos = int(np.searchsorted(market._ts, state.cursor_ms, side="right"))
        market._last.update(state.last_prices)
        return market
