"""Batch indicators against plain-Python reference implementations that follow TA-Lib's algorithms.

Each reference works on one series with scalar loops, written from TA-Lib's C sources (ta_RSI.c, ta_ADX.c,
ta_SAR.c, …) rather than from the vectorised code under test. They agree to 1e-9 relative (plus 1e-9 of
the series' scale, for values that cross zero) on seeded random walks, walks with large gaps, flat
prices, flat tails, volume droughts and very low-priced symbols; the NaN warm-up ends at an exact index.

Zero tests are exact where TA-Lib 0.4 used |x| < 1e-8 (which zeroes RSI, ADX, … of low-priced symbols):
RSI is 0 when the averages hold no gain and no loss (TA-Lib's value, not 50), stochastics and %R are 0 for
an empty range, MFI/CMF are 0 without flow, ADX/DI are 0 without movement. CCI is 0 for a window whose mean
deviation is rounding noise (< 1e-12 of its mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import casino_tui.sensors.indicators as ind

NAN = float("nan")


class Ohlcv(NamedTuple):
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741 - the usual OHLCV letter
    c: np.ndarray
    v: np.ndarray

    def row(self, i: int) -> Ohlcv:
        return Ohlcv(*(a[i] for a in self))


def random_ohlcv(
    seed: int,
    n_bars: int = 300,
    n_symbols: int | None = None,
    start: float = 100.0,
    sigma: float = 0.01,
    gap_prob: float = 0.0,
) -> Ohlcv:
    """Seeded geometric random walk with consistent OHLC (low <= open, close <= high) and lognormal volume.

    With `gap_prob`, that share of bars opens 5-25 % away from the previous close."""
    rng = np.random.default_rng(seed)
    shape = (n_bars,) if n_symbols is None else (n_symbols, n_bars)
    gaps = (rng.random(shape) < gap_prob) * rng.choice([-1.0, 1.0], shape) * rng.uniform(0.05, 0.25, shape)
    intrabar = rng.normal(0.0, sigma, shape)
    close = start * np.exp(np.cumsum(gaps + intrabar, axis=-1))
    prev_close = np.concatenate([np.full(shape[:-1] + (1,), start), close[..., :-1]], axis=-1)
    open_ = prev_close * np.exp(gaps)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, sigma / 2, shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, sigma / 2, shape)))
    volume = rng.lognormal(6.0, 1.0, shape)
    return Ohlcv(open_, high, low, close, volume)


def flat_ohlcv(n_bars: int = 120, price: float = 100.0) -> Ohlcv:
    flat = np.full(n_bars, price)
    return Ohlcv(flat, flat.copy(), flat.copy(), flat.copy(), np.full(n_bars, 1000.0))


def flat_tail_ohlcv() -> Ohlcv:
    """300 bars: a busy walk, then a long flat stretch at its last close (decays and exact zeros after
    activity)."""
    walk = random_ohlcv(11, 150)
    tail = flat_ohlcv(150, float(walk.c[-1]))
    return Ohlcv(*(np.concatenate([a, b]) for a, b in zip(walk, tail, strict=True)))


def volume_drought_ohlcv() -> Ohlcv:
    """300 bars of walk with no volume on bars 80..139."""
    d = random_ohlcv(12, 300)
    v = d.v.copy()
    v[80:140] = 0.0
    return d._replace(v=v)


DATASETS: dict[str, Callable[[], Ohlcv]] = {
    "walk": lambda: random_ohlcv(7),
    "gaps": lambda: random_ohlcv(8, gap_prob=0.08),
    "flat": flat_ohlcv,
    "flat_tail": flat_tail_ohlcv,
    "volume_drought": volume_drought_ohlcv,
    "low_priced": lambda: random_ohlcv(9, start=2e-5),
}


# ------------------------------------------------------------------------------------- reference algorithms


def r_sma(x, p, start=0):
    out = [NAN] * len(x)
    for t in range(start + p - 1, len(x)):
        out[t] = sum(x[t - p + 1 : t + 1]) / p
    return out


def r_ema(x, p, start=0):
    """TA-Lib EMA over x[start:]: seed = mean of its first p values, then (x - prev)·k + prev."""
    out = [NAN] * len(x)
    if len(x) - start < p:
        return out
    k = 2.0 / (p + 1)
    total = 0.0
    for t in range(start, start + p):
        total += x[t]
    e = total / p
    out[start + p - 1] = e
    for t in range(start + p, len(x)):
        e = (x[t] - e) * k + e
        out[t] = e
    return out


def r_wma(x, p):
    out = [NAN] * len(x)
    for t in range(p - 1, len(x)):
        out[t] = sum(x[t - i] * (p - i) for i in range(p)) / (p * (p + 1) / 2)
    return out


def r_dema(x, p):
    e1 = r_ema(x, p)
    e2 = r_ema(e1, p, start=p - 1)
    return [2 * a - b for a, b in zip(e1, e2, strict=True)]


def r_tema(x, p):
    e1 = r_ema(x, p)
    e2 = r_ema(e1, p, start=p - 1)
    e3 = r_ema(e2, p, start=2 * (p - 1))
    return [3 * a - 3 * b + c for a, b, c in zip(e1, e2, e3, strict=True)]


def r_trix(x, p):
    e3 = r_ema(r_ema(r_ema(x, p), p, start=p - 1), p, start=2 * (p - 1))
    out = [NAN] * len(x)
    for t in range(3 * (p - 1) + 1, len(x)):
        out[t] = 0.0 if e3[t - 1] == 0 else (e3[t] / e3[t - 1] - 1.0) * 100.0
    return out


def r_macd(x, fast, slow, signal):
    if slow < fast:
        fast, slow = slow, fast
    s = r_ema(x, slow)
    f = r_ema(x, fast, start=slow - fast)  # TA-Lib: the fast EMA's seed window ends at bar slow-1
    line = [NAN] * len(x)
    for t in range(slow - 1, len(x)):
        line[t] = f[t] - s[t]
    sig = r_ema(line, signal, start=slow - 1)
    first = slow + signal - 2
    m, sg, hist = ([NAN] * len(x) for _ in range(3))
    for t in range(first, len(x)):
        m[t], sg[t], hist[t] = line[t], sig[t], line[t] - sig[t]
    return m, sg, hist


def r_rsi(x, p):
    out = [NAN] * len(x)
    if len(x) <= p:
        return out
    gain = loss = 0.0
    for t in range(1, p + 1):
        d = x[t] - x[t - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    gain /= p
    loss /= p

    def value():
        return 0.0 if gain + loss == 0 else 100.0 * (gain / (gain + loss))

    out[p] = value()
    for t in range(p + 1, len(x)):
        d = x[t] - x[t - 1]
        gain *= p - 1
        loss *= p - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        gain /= p
        loss /= p
        out[t] = value()
    return out


def r_bbands(x, p, nbdev):
    up, mid, lo = ([NAN] * len(x) for _ in range(3))
    for t in range(p - 1, len(x)):
        w = x[t - p + 1 : t + 1]
        m = sum(w) / p
        sd = math.sqrt(sum((v - m) ** 2 for v in w) / p)
        up[t], mid[t], lo[t] = m + nbdev * sd, m, m - nbdev * sd
    return up, mid, lo


def r_true_range(h, l, prev_close):  # noqa: E741
    return max(h - l, abs(h - prev_close), abs(l - prev_close))


def r_atr(h, l, c, p):  # noqa: E741
    out = [NAN] * len(c)
    if len(c) <= p:
        return out
    total = 0.0
    for t in range(1, p + 1):
        total += r_true_range(h[t], l[t], c[t - 1])
    a = total / p
    out[p] = a
    for t in range(p + 1, len(c)):
        a = (a * (p - 1) + r_true_range(h[t], l[t], c[t - 1])) / p
        out[t] = a
    return out


def r_adx(h, l, c, p):  # noqa: E741
    """TA-Lib ta_ADX.c: DM/TR summed over period-1 bars, Wilder-smoothed; ADX = mean of the first p DX."""
    n = len(c)
    adx_out, pdi_out, mdi_out = ([NAN] * n for _ in range(3))
    pdm = mdm = tr = 0.0

    def moves(t):
        up, down = h[t] - h[t - 1], l[t - 1] - l[t]
        plus = up if (up > 0 and up > down) else 0.0
        minus = down if (down > 0 and up < down) else 0.0
        return plus, minus, r_true_range(h[t], l[t], c[t - 1])

    for t in range(1, min(p, n)):
        plus, minus, r = moves(t)
        pdm, mdm, tr = pdm + plus, mdm + minus, tr + r
    sum_dx, prev_adx = 0.0, NAN
    for t in range(p, n):
        plus, minus, r = moves(t)
        pdm = pdm - pdm / p + plus
        mdm = mdm - mdm / p + minus
        tr = tr - tr / p + r
        pdi = 100.0 * (pdm / tr) if tr != 0 else 0.0
        mdi = 100.0 * (mdm / tr) if tr != 0 else 0.0
        pdi_out[t], mdi_out[t] = pdi, mdi
        dx = 100.0 * (abs(mdi - pdi) / (mdi + pdi)) if (tr != 0 and mdi + pdi != 0) else None
        if t < 2 * p:
            sum_dx += dx or 0.0
            if t == 2 * p - 1:
                prev_adx = sum_dx / p
                adx_out[t] = prev_adx
        else:
            if dx is not None:
                prev_adx = (prev_adx * (p - 1) + dx) / p
            adx_out[t] = prev_adx
    return adx_out, pdi_out, mdi_out


def r_stoch_k(x, hi, lo):
    diff = (hi - lo) / 100.0
    return 0.0 if diff == 0 else (x - lo) / diff


def r_stoch(h, l, c, fastk, slowk, slowd):  # noqa: E741
    k = [NAN] * len(c)
    for t in range(fastk - 1, len(c)):
        k[t] = r_stoch_k(c[t], max(h[t - fastk + 1 : t + 1]), min(l[t - fastk + 1 : t + 1]))
    sk = r_sma(k, slowk, start=fastk - 1)
    sd = r_sma(sk, slowd, start=fastk + slowk - 2)
    first = fastk + slowk + slowd - 3
    return [NAN if t < first else v for t, v in enumerate(sk)], sd


def r_stochrsi(x, p, fastk, fastd):
    r = r_rsi(x, p)
    k = [NAN] * len(x)
    for t in range(p + fastk - 1, len(x)):
        w = r[t - fastk + 1 : t + 1]
        k[t] = r_stoch_k(r[t], max(w), min(w))
    d = r_sma(k, fastd, start=p + fastk - 1)
    first = p + fastk + fastd - 2
    return [NAN if t < first else v for t, v in enumerate(k)], d


def r_cci(h, l, c, p):  # noqa: E741
    tp = [(a + b + d) / 3 for a, b, d in zip(h, l, c, strict=True)]
    out = [NAN] * len(c)
    for t in range(p - 1, len(c)):
        w = tp[t - p + 1 : t + 1]
        avg = sum(w) / p
        mean_dev = sum(abs(v - avg) for v in w) / p
        out[t] = 0.0 if mean_dev <= 1e-12 * abs(avg) else (tp[t] - avg) / (0.015 * mean_dev)
    return out


def r_willr(h, l, c, p):  # noqa: E741
    out = [NAN] * len(c)
    for t in range(p - 1, len(c)):
        hh, ll = max(h[t - p + 1 : t + 1]), min(l[t - p + 1 : t + 1])
        diff = (hh - ll) / -100.0
        out[t] = 0.0 if diff == 0 else (hh - c[t]) / diff
    return out


def r_roc(x, p):
    out = [NAN] * len(x)
    for t in range(p, len(x)):
        out[t] = 0.0 if x[t - p] == 0 else (x[t] / x[t - p] - 1.0) * 100.0
    return out


def r_mom(x, p):
    return [NAN if t < p else x[t] - x[t - p] for t in range(len(x))]


def r_mfi(h, l, c, v, p):  # noqa: E741
    """TA-Lib ta_MFI.c: typical-price flow to the positive or negative sum by the typical price's move."""
    tp = [(a + b + d) / 3.0 for a, b, d in zip(h, l, c, strict=True)]
    pos, neg = [0.0] * len(c), [0.0] * len(c)
    for t in range(1, len(c)):
        if tp[t] > tp[t - 1]:
            pos[t] = tp[t] * v[t]
        elif tp[t] < tp[t - 1]:
            neg[t] = tp[t] * v[t]
    out = [NAN] * len(c)
    for t in range(p, len(c)):
        ps, ns = sum(pos[t - p + 1 : t + 1]), sum(neg[t - p + 1 : t + 1])
        out[t] = 0.0 if ps + ns == 0 else 100.0 * (ps / (ps + ns))
    return out


def r_obv(c, v):
    out, total = [], v[0]
    for t in range(len(c)):
        if t > 0 and c[t] > c[t - 1]:
            total += v[t]
        elif t > 0 and c[t] < c[t - 1]:
            total -= v[t]
        out.append(total)
    return out


def r_aroon(h, l, p):  # noqa: E741
    down, up = [NAN] * len(h), [NAN] * len(h)
    for t in range(p, len(h)):
        hi_idx, lo_idx = t - p, t - p
        for i in range(t - p, t + 1):  # >= / <=: the most recent extreme wins ties, as in ta_AROON.c
            if h[i] >= h[hi_idx]:
                hi_idx = i
            if l[i] <= l[lo_idx]:
                lo_idx = i
        up[t] = (100.0 / p) * (p - (t - hi_idx))
        down[t] = (100.0 / p) * (p - (t - lo_idx))
    return down, up


def r_sar(h, l, acceleration, maximum):  # noqa: E741
    """Transcription of ta_SAR.c."""
    out = [NAN] * len(h)
    if len(h) < 2:
        return out
    acceleration = min(acceleration, maximum)
    af = acceleration
    down, up = l[0] - l[1], h[1] - h[0]
    is_long = not (down > 0 and up < down)
    if is_long:
        ep, sar_ = h[1], l[0]
    else:
        ep, sar_ = l[1], h[0]
    new_low, new_high = l[1], h[1]
    for t in range(1, len(h)):
        prev_low, prev_high = new_low, new_high
        new_low, new_high = l[t], h[t]
        if is_long:
            if new_low <= sar_:
                is_long = False
                sar_ = max(ep, prev_high, new_high)
                out[t] = sar_
                af, ep = acceleration, new_low
                sar_ = max(sar_ + af * (ep - sar_), prev_high, new_high)
            else:
                out[t] = sar_
                if new_high > ep:
                    ep = new_high
                    af = min(af + acceleration, maximum)
                sar_ = min(sar_ + af * (ep - sar_), prev_low, new_low)
        else:
            if new_high >= sar_:
                is_long = True
                sar_ = min(ep, prev_low, new_low)
                out[t] = sar_
                af, ep = acceleration, new_high
                sar_ = min(sar_ + af * (ep - sar_), prev_low, new_low)
            else:
                out[t] = sar_
                if new_low < ep:
                    ep = new_low
                    af = min(af + acceleration, maximum)
                sar_ = max(sar_ + af * (ep - sar_), prev_high, new_high)
    return out


def r_ultosc(h, l, c, p1, p2, p3):  # noqa: E741
    short, mid, long_ = sorted((p1, p2, p3))
    bp, tr = [0.0] * len(c), [0.0] * len(c)
    for t in range(1, len(c)):
        true_low = min(l[t], c[t - 1])
        bp[t] = c[t] - true_low
        tr[t] = r_true_range(h[t], l[t], c[t - 1])
    out = [NAN] * len(c)
    for t in range(long_, len(c)):
        total = 0.0
        for weight, k in ((4.0, short), (2.0, mid), (1.0, long_)):
            b = sum(tr[t - k + 1 : t + 1])
            if b != 0:
                total += weight * (sum(bp[t - k + 1 : t + 1]) / b)
        out[t] = 100.0 * (total / 7.0)
    return out


def r_linreg_slope(x, p):
    """ta_LINEARREG_SLOPE.c: x is 'bars ago', so the divisor is SumX² − n·SumX²-of-squares."""
    sum_x = p * (p - 1) * 0.5
    sum_x_sqr = p * (p - 1) * (2 * p - 1) / 6
    divisor = sum_x * sum_x - p * sum_x_sqr
    out = [NAN] * len(x)
    for t in range(p - 1, len(x)):
        sum_xy = sum_y = 0.0
        for i in range(p - 1, -1, -1):
            sum_y += x[t - i]
            sum_xy += i * x[t - i]
        out[t] = (p * sum_xy - sum_x * sum_y) / divisor
    return out


def r_vwap(h, l, c, v, p):  # noqa: E741
    tp = [(a + b + d) / 3.0 for a, b, d in zip(h, l, c, strict=True)]
    out = [NAN] * len(c)
    for t in range(p - 1, len(c)):
        vol = sum(v[t - p + 1 : t + 1])
        if vol == 0:
            out[t] = sum(tp[t - p + 1 : t + 1]) / p
        else:
            out[t] = (
                sum(a * b for a, b in zip(tp[t - p + 1 : t + 1], v[t - p + 1 : t + 1], strict=True)) / vol
            )
    return out


def r_donchian(h, l, p):  # noqa: E741
    up, mid, lo = ([NAN] * len(h) for _ in range(3))
    for t in range(p - 1, len(h)):
        up[t], lo[t] = max(h[t - p + 1 : t + 1]), min(l[t - p + 1 : t + 1])
        mid[t] = (up[t] + lo[t]) / 2
    return up, mid, lo


def r_keltner(h, l, c, period, atr_period, mult):  # noqa: E741
    mid, a = r_ema(c, period), r_atr(h, l, c, atr_period)
    first = max(period - 1, atr_period)
    up = [NAN if t < first else m + mult * x for t, (m, x) in enumerate(zip(mid, a, strict=True))]
    lo = [NAN if t < first else m - mult * x for t, (m, x) in enumerate(zip(mid, a, strict=True))]
    return up, [NAN if t < first else m for t, m in enumerate(mid)], lo


def r_supertrend(h, l, c, p, mult):  # noqa: E741
    """TradingView's ta.supertrend band and direction rules (its -1/+1 flipped to +1 = up) over TA-Lib ATR."""
    a = r_atr(h, l, c, p)
    line, direction = [NAN] * len(c), [NAN] * len(c)
    upper_prev = lower_prev = None
    d = -1.0
    for t in range(p, len(c)):
        mid = (h[t] + l[t]) / 2
        upper, lower = mid + mult * a[t], mid - mult * a[t]
        if upper_prev is not None:
            lower = lower if (lower > lower_prev or c[t - 1] < lower_prev) else lower_prev
            upper = upper if (upper < upper_prev or c[t - 1] > upper_prev) else upper_prev
            if d < 0:
                d = 1.0 if c[t] > upper else -1.0
            else:
                d = -1.0 if c[t] < lower else 1.0
        line[t], direction[t] = (lower if d > 0 else upper), d
        upper_prev, lower_prev = upper, lower
    return line, direction


def r_ichimoku(h, l, tenkan, kijun, senkou):  # noqa: E741
    def mid(k):
        return [
            NAN if t < k - 1 else (max(h[t - k + 1 : t + 1]) + min(l[t - k + 1 : t + 1])) / 2
            for t in range(len(h))
        ]

    conv, base = mid(tenkan), mid(kijun)
    return conv, base, [(a + b) / 2 for a, b in zip(conv, base, strict=True)], mid(senkou)


def r_dpo(x, p):
    lag, avg = p // 2 + 1, r_sma(x, p)
    return [NAN if t < max(p - 1, lag) else x[t - lag] - avg[t] for t in range(len(x))]


def r_cmf(h, l, c, v, p):  # noqa: E741
    flow = [
        ((cc - ll) - (hh - cc)) / (hh - ll) * vv if hh != ll else 0.0
        for hh, ll, cc, vv in zip(h, l, c, v, strict=True)
    ]
    out = [NAN] * len(c)
    for t in range(p - 1, len(c)):
        vol = sum(v[t - p + 1 : t + 1])
        out[t] = 0.0 if vol == 0 else sum(flow[t - p + 1 : t + 1]) / vol
    return out


# ------------------------------------------------------------------------------------- the cases


class Case(NamedTuple):
    """One indicator with one parameter set: batch call, reference call, first valid index per output."""

    name: str
    batch: Callable[[Ohlcv], tuple[np.ndarray, ...] | np.ndarray]
    reference: Callable[[Ohlcv], tuple[list[float], ...] | list[float]]
    firsts: tuple[int, ...]


def _lists(d: Ohlcv) -> Ohlcv:
    return Ohlcv(*(a.tolist() for a in d))


CASES = [
    Case("sma", lambda d: ind.sma(d.c, 20), lambda d: r_sma(d.c, 20), (19,)),
    Case(
        "sma_hl2_5",
        lambda d: ind.sma((d.h + d.l) / 2, 5),
        lambda d: r_sma([(a + b) / 2 for a, b in zip(d.h, d.l, strict=True)], 5),
        (4,),
    ),
    Case("ema", lambda d: ind.ema(d.c, 20), lambda d: r_ema(d.c, 20), (19,)),
    Case("ema_2", lambda d: ind.ema(d.c, 2), lambda d: r_ema(d.c, 2), (1,)),
    Case("wma", lambda d: ind.wma(d.c, 10), lambda d: r_wma(d.c, 10), (9,)),
    Case("dema", lambda d: ind.dema(d.c, 10), lambda d: r_dema(d.c, 10), (18,)),
    Case("tema", lambda d: ind.tema(d.c, 10), lambda d: r_tema(d.c, 10), (27,)),
    Case("rsi", lambda d: ind.rsi(d.c), lambda d: r_rsi(d.c, 14), (14,)),
    Case("rsi_5", lambda d: ind.rsi(d.c, 5), lambda d: r_rsi(d.c, 5), (5,)),
    Case("macd", lambda d: ind.macd(d.c), lambda d: r_macd(d.c, 12, 26, 9), (33, 33, 33)),
    Case("macd_5_13_4", lambda d: ind.macd(d.c, 5, 13, 4), lambda d: r_macd(d.c, 5, 13, 4), (15, 15, 15)),
    Case("macd_swapped", lambda d: ind.macd(d.c, 26, 12, 9), lambda d: r_macd(d.c, 26, 12, 9), (33, 33, 33)),
    Case("bbands", lambda d: ind.bbands(d.c), lambda d: r_bbands(d.c, 20, 2.0), (19, 19, 19)),
    Case("bbands_10_1.5", lambda d: ind.bbands(d.c, 10, 1.5), lambda d: r_bbands(d.c, 10, 1.5), (9, 9, 9)),
    Case("atr", lambda d: ind.atr(d.h, d.l, d.c), lambda d: r_atr(d.h, d.l, d.c, 14), (14,)),
    Case("adx", lambda d: ind.adx(d.h, d.l, d.c), lambda d: r_adx(d.h, d.l, d.c, 14)[0], (27,)),
    Case("plus_di", lambda d: ind.plus_di(d.h, d.l, d.c), lambda d: r_adx(d.h, d.l, d.c, 14)[1], (14,)),
    Case("minus_di", lambda d: ind.minus_di(d.h, d.l, d.c), lambda d: r_adx(d.h, d.l, d.c, 14)[2], (14,)),
    Case("adx_5", lambda d: ind.adx(d.h, d.l, d.c, 5), lambda d: r_adx(d.h, d.l, d.c, 5)[0], (9,)),
    Case("stoch", lambda d: ind.stoch(d.h, d.l, d.c), lambda d: r_stoch(d.h, d.l, d.c, 14, 3, 3), (17, 17)),
    Case(
        "stoch_5_1_4",
        lambda d: ind.stoch(d.h, d.l, d.c, 5, 1, 4),
        lambda d: r_stoch(d.h, d.l, d.c, 5, 1, 4),
        (7, 7),
    ),
    Case("stochrsi", lambda d: ind.stochrsi(d.c), lambda d: r_stochrsi(d.c, 14, 5, 3), (20, 20)),
    Case("cci", lambda d: ind.cci(d.h, d.l, d.c), lambda d: r_cci(d.h, d.l, d.c, 20), (19,)),
    Case("willr", lambda d: ind.willr(d.h, d.l, d.c), lambda d: r_willr(d.h, d.l, d.c, 14), (13,)),
    Case("roc", lambda d: ind.roc(d.c), lambda d: r_roc(d.c, 10), (10,)),
    Case("mom", lambda d: ind.mom(d.c), lambda d: r_mom(d.c, 10), (10,)),
    Case("mfi", lambda d: ind.mfi(d.h, d.l, d.c, d.v), lambda d: r_mfi(d.h, d.l, d.c, d.v, 14), (14,)),
    Case("obv", lambda d: ind.obv(d.c, d.v), lambda d: r_obv(d.c, d.v), (0,)),
    Case("trix", lambda d: ind.trix(d.c), lambda d: r_trix(d.c, 15), (43,)),
    Case("aroon", lambda d: ind.aroon(d.h, d.l), lambda d: r_aroon(d.h, d.l, 14), (14, 14)),
    Case("sar", lambda d: ind.sar(d.h, d.l), lambda d: r_sar(d.h, d.l, 0.02, 0.2), (1,)),
    Case("sar_fast", lambda d: ind.sar(d.h, d.l, 0.1, 0.3), lambda d: r_sar(d.h, d.l, 0.1, 0.3), (1,)),
    Case("ultosc", lambda d: ind.ultosc(d.h, d.l, d.c), lambda d: r_ultosc(d.h, d.l, d.c, 7, 14, 28), (28,)),
    Case(
        "ultosc_unsorted",
        lambda d: ind.ultosc(d.h, d.l, d.c, 9, 3, 5),
        lambda d: r_ultosc(d.h, d.l, d.c, 9, 3, 5),
        (9,),
    ),
    Case("linreg_slope", lambda d: ind.linreg_slope(d.c), lambda d: r_linreg_slope(d.c, 14), (13,)),
    Case("vwap", lambda d: ind.vwap(d.h, d.l, d.c, d.v), lambda d: r_vwap(d.h, d.l, d.c, d.v, 20), (19,)),
    Case("donchian", lambda d: ind.donchian(d.h, d.l), lambda d: r_donchian(d.h, d.l, 20), (19, 19, 19)),
    Case(
        "keltner",
        lambda d: ind.keltner(d.h, d.l, d.c),
        lambda d: r_keltner(d.h, d.l, d.c, 20, 10, 2.0),
        (19, 19, 19),
    ),
    Case(
        "keltner_atr_long",
        lambda d: ind.keltner(d.h, d.l, d.c, 5, 12, 1.0),
        lambda d: r_keltner(d.h, d.l, d.c, 5, 12, 1.0),
        (12, 12, 12),
    ),
    Case(
        "supertrend",
        lambda d: ind.supertrend(d.h, d.l, d.c),
        lambda d: r_supertrend(d.h, d.l, d.c, 10, 3.0),
        (10, 10),
    ),
    Case(
        "supertrend_tight",
        lambda d: ind.supertrend(d.h, d.l, d.c, 7, 1.0),
        lambda d: r_supertrend(d.h, d.l, d.c, 7, 1.0),
        (7, 7),
    ),
    Case(
        "ichimoku",
        lambda d: ind.ichimoku(d.h, d.l),
        lambda d: r_ichimoku(d.h, d.l, 9, 26, 52),
        (8, 25, 25, 51),
    ),
    Case("dpo", lambda d: ind.dpo(d.c), lambda d: r_dpo(d.c, 20), (19,)),
    Case("dpo_3", lambda d: ind.dpo(d.c, 3), lambda d: r_dpo(d.c, 3), (2,)),
    Case("cmf", lambda d: ind.cmf(d.h, d.l, d.c, d.v), lambda d: r_cmf(d.h, d.l, d.c, d.v, 20), (19,)),
]


def _tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def assert_series_close(actual: np.ndarray, expected, first: int, scale: float) -> None:
    """NaN exactly before `first`, finite from it, and equal to 1e-9 relative (+1e-9 of `scale`)."""
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    assert np.isnan(actual[:first]).all(), f"values before the warm-up index {first}"
    assert np.isfinite(actual[first:]).all(), f"NaN or inf at or after the warm-up index {first}"
    np.testing.assert_allclose(actual[first:], expected[first:], rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_batch_matches_reference(case: Case, dataset: str) -> None:
    data = DATASETS[dataset]()
    actual = _tuple(case.batch(data))
    expected = _tuple(case.reference(_lists(data)))
    assert len(actual) == len(expected) == len(case.firsts)
    for out, ref, first in zip(actual, expected, case.firsts, strict=True):
        scale = max(float(np.nanmax(np.abs(ref))), float(np.max(np.abs(data.c))))
        assert_series_close(out, ref, first, scale)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_2d_rows_equal_1d(case: Case) -> None:
    data = random_ohlcv(21, n_bars=160, n_symbols=4, gap_prob=0.03)
    batch_2d = _tuple(case.batch(data))
    for i in range(4):
        batch_1d = _tuple(case.batch(data.row(i)))
        for out_2d, out_1d in zip(batch_2d, batch_1d, strict=True):
            assert out_2d.shape == (4, 160)
            np.testing.assert_allclose(out_2d[i], out_1d, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_history_shorter_than_warmup_is_all_nan(case: Case) -> None:
    data = Ohlcv(*(a[: min(case.firsts)] for a in random_ohlcv(5)))
    for out in _tuple(case.batch(data)):
        assert out.shape == data.c.shape
        assert np.isnan(out).all()


def _after(x: np.ndarray, first: int) -> np.ndarray:
    return x[first:]


def test_flat_prices_follow_talib_zero_conventions() -> None:
    d = flat_ohlcv(120)
    assert (_after(ind.rsi(d.c), 14) == 0).all(), "TA-Lib's RSI of a flat series is 0, not 50"
    assert all((_after(x, 17) == 0).all() for x in ind.stoch(d.h, d.l, d.c))
    assert all((_after(x, 20) == 0).all() for x in ind.stochrsi(d.c))
    assert (_after(ind.willr(d.h, d.l, d.c), 13) == 0).all()
    assert (_after(ind.cci(d.h, d.l, d.c), 19) == 0).all()
    assert (_after(ind.mfi(d.h, d.l, d.c, d.v), 14) == 0).all()
    assert (_after(ind.cmf(d.h, d.l, d.c, d.v), 19) == 0).all()
    assert (_after(ind.ultosc(d.h, d.l, d.c), 28) == 0).all()
    assert (_after(ind.adx(d.h, d.l, d.c), 27) == 0).all()
    assert (_after(ind.plus_di(d.h, d.l, d.c), 14) == 0).all()
    down, up = ind.aroon(d.h, d.l)
    assert (_after(up, 14) == 100).all() and (_after(down, 14) == 100).all(), "ties go to the newest bar"
    upper, middle, lower = ind.bbands(d.c)
    np.testing.assert_allclose(_after(upper, 19), _after(middle, 19), rtol=1e-12)
    np.testing.assert_allclose(_after(lower, 19), 100.0, rtol=1e-12)
    assert (_after(ind.sar(d.h, d.l), 1) == 100).all()
    line, direction = ind.supertrend(d.h, d.l, d.c)
    assert (_after(line, 10) == 100).all() and (_after(direction, 10) == -1).all()
    assert (ind.obv(d.c, d.v) == 1000).all()


def test_flat_tail_after_activity_reaches_exact_zero_where_talib_does() -> None:
    d = flat_tail_ohlcv()  # 150 moving bars, then 150 flat
    assert (ind.cci(d.h, d.l, d.c)[170:] == 0).all()
    assert (ind.mfi(d.h, d.l, d.c, d.v)[165:] == 0).all()
    assert (ind.ultosc(d.h, d.l, d.c)[179:] == 0).all()
    assert (ind.willr(d.h, d.l, d.c)[164:] == 0).all()
    assert (ind.mom(d.c)[161:] == 0).all()
    rsi_tail = ind.rsi(d.c)[151:]
    # No new gains or losses: both averages decay by the same factor, so their ratio holds (to rounding).
    np.testing.assert_allclose(rsi_tail, rsi_tail[0], rtol=1e-12)


def test_volume_drought_gives_zero_money_flow_and_plain_mean_vwap() -> None:
    d = volume_drought_ohlcv()  # volume 0 on bars 80..139
    assert (ind.cmf(d.h, d.l, d.c, d.v)[99:140] == 0).all()
    assert (ind.mfi(d.h, d.l, d.c, d.v)[93:140] == 0).all()
    tp = (d.h + d.l + d.c) / 3
    np.testing.assert_allclose(ind.vwap(d.h, d.l, d.c, d.v)[99:140], ind.sma(tp, 20)[99:140], rtol=1e-12)


def test_low_priced_symbol_is_not_zeroed_by_an_absolute_threshold() -> None:
    d = random_ohlcv(9, start=2e-5)
    assert (ind.rsi(d.c)[14:] > 0).all(), "TA-Lib 0.4's |x| < 1e-8 test would give RSI 0 here"
    assert (ind.adx(d.h, d.l, d.c)[27:] > 0).all()
    assert (ind.atr(d.h, d.l, d.c)[14:] > 0).all()


def test_supertrend_direction_is_plus_or_minus_one_and_line_is_the_matching_band() -> None:
    d = random_ohlcv(3, 400, sigma=0.02)
    line, direction = ind.supertrend(d.h, d.l, d.c)
    assert set(np.unique(direction[10:])) == {-1.0, 1.0}
    up = direction[10:] > 0
    assert (line[10:][up] < d.c[10:][up]).all(), "an uptrend line (lower band) sits below the close"
    assert (line[10:][~up] > d.c[10:][~up]).all(), "a downtrend line (upper band) sits above the close"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: ind.sma(c, 0),
        lambda c: ind.ema(c, -3),
        lambda c: ind.rsi(c, 1),
        lambda c: ind.linreg_slope(c, 1),
        lambda c: ind.bbands(c, 2.5),
        lambda c: ind.sma(c.reshape(1, 1, -1), 3),
        lambda c: ind.atr(c, c[:-1], c, 3),
    ],
    ids=[
        "zero_period",
        "negative_period",
        "rsi_period_1",
        "slope_period_1",
        "float_period",
        "3d_input",
        "shape_mismatch",
    ],
)
def test_bad_arguments_raise_value_error(call) -> None:
    with pytest.raises(ValueError):
        call(random_ohlcv(1, 50).c)
