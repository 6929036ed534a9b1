"""Indicators whose value at candle i depends only on the window ending at i.

Every indicator here sums its window's own values, in an order fixed by the window length,
instead of using running sums (cumsum) or recursive smoothing (EMA, Wilder). That makes a
value bit-for-bit the same whether a live tick feeds 50 candles or a backtest feeds a million,
so backtest and live cannot diverge through floating-point drift, and truncating the data
never changes the past. (The exact comparisons at the end do use running sums: of integers,
which carry no rounding, so they are local too.)
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np


def rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of each `window` values ending at i; NaN where fewer than `window` exist.

    Built from power-of-two block sums (blocks of 1, 2, 4, ... values, each the sum of two
    halves), combined along the binary digits of `window`: O(n log window) instead of
    O(n window), and still a fixed sum of the window's own values, so bit-for-bit local.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape[0], np.nan)
    count = values.shape[0] - window + 1
    if window < 1 or count <= 0:
        return out
    blocks, size, offset, total = values, 1, 0, None
    while True:
        if window & size:  # this power of two is part of the window: add its block
            part = blocks[offset: offset + count]
            total = part.copy() if total is None else total + part
            offset += size
        if size * 2 > window:
            break
        blocks = blocks[:-size] + blocks[size:]  # block sums of 2 * size values
        size *= 2
    out[window - 1:] = total
    return out


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average over `window` candles; NaN during warm-up."""
    return rolling_sum(values, window) / window


def rolling_std(values: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation over `window` candles (Bollinger's), NaN during warm-up.

    Deviations from the window's own mean are summed, which stays accurate where
    E[x^2] - E[x]^2 would cancel catastrophically on prices like 60,000.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = rolling_mean(values, window)
    out = np.full(values.shape[0], np.nan)
    count = values.shape[0] - window + 1
    if window < 1 or count <= 0:
        return out
    centre = mean[window - 1:]
    squares = np.zeros(count)
    for offset in range(window):
        squares += (values[offset: offset + count] - centre) ** 2
    out[window - 1:] = np.sqrt(squares / window)
    return out


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Cutler's RSI (simple averages of gains and losses), 0..100; NaN for the first `period`.

    Cutler's variant is used instead of Wilder's smoothing because its memory is exactly
    `period` candles: a live tick reproduces the backtest value with `period + 1` candles.
    """
    close = np.asarray(close, dtype=np.float64)
    change = np.diff(close, prepend=np.nan)
    gains = rolling_sum(np.where(change > 0, change, 0.0), period)
    losses = rolling_sum(np.where(change < 0, -change, 0.0), period)
    gains[:period] = np.nan  # the first change needs a previous close
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 * gains / (gains + losses)
    return np.where((gains + losses) == 0, 50.0, value)


def crossed_above(series: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """True at i when series was <= reference at i-1 and is > reference at i (NaN: False)."""
    above = series > reference
    at_or_below = series <= reference
    out = np.zeros(series.shape[0], dtype=bool)
    out[1:] = at_or_below[:-1] & above[1:]
    return out


def crossed_below(series: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """True at i when series was >= reference at i-1 and is < reference at i (NaN: False)."""
    below = series < reference
    at_or_above = series >= reference
    out = np.zeros(series.shape[0], dtype=bool)
    out[1:] = at_or_above[:-1] & below[1:]
    return out


# -- exact comparisons ----------------------------------------------------------------------
# Prices are decimals: an exchange quotes 0.1, which a float holds as 0.1000000000000000055.
# Sums of such floats land an ulp either side of where exact arithmetic puts them, so two
# averages equal on paper "cross" by noise. The comparisons below work on the prices scaled to
# integers (0.1 at two decimals is 10): sums of integers are exact, and so is every comparison
# built from them. Data that is no short decimal (a synthetic random walk) keeps the float
# comparison: there is no decimal truth to be exact about.

MAX_DECIMALS = 12
_EXACT_FLOAT = 2.0 ** 53  # integers up to this are exact in a float64
_INT64_HEADROOM = 2 ** 62  # products and sums below this cannot overflow int64


def decimal_scale(values: np.ndarray) -> int | None:
    """The fewest decimals d (<= MAX_DECIMALS) such that every value is the float nearest a
    decimal with d digits after the point, i.e. values * 10**d are whole; None if none is."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        return 0
    largest = float(np.max(np.abs(values)))
    if not np.isfinite(largest):
        return None
    fits = [d for d in range(MAX_DECIMALS + 1) if largest * 10.0 ** d < _EXACT_FLOAT]
    if not fits or not _has_decimals(values, fits[-1]):
        return None  # more decimals never help: a value whole at d is whole at every d' > d
    low, high = 0, fits[-1]
    while low < high:  # the smallest d keeps the integers (and their sums) small
        middle = (low + high) // 2
        low, high = (low, middle) if _has_decimals(values, middle) else (middle + 1, high)
    return low


def _has_decimals(values: np.ndarray, decimals: int) -> bool:
    scale = 10.0 ** decimals
    return bool(np.all(np.round(values * scale) / scale == values))


def scaled_integers(values: np.ndarray) -> np.ndarray | None:
    """The values as integers at their decimal scale (int64, or Python ints as objects when
    sums of them could overflow); None when they are not short decimals."""
    values = np.asarray(values, dtype=np.float64)
    decimals = decimal_scale(values)
    if decimals is None:
        return None
    return np.round(values * 10.0 ** decimals).astype(np.int64)


def _wide(integers: np.ndarray, factor: int) -> np.ndarray:
    """`integers` in a dtype in which multiplying sums of them by `factor` stays exact."""
    largest = int(np.max(np.abs(integers))) if integers.shape[0] else 0
    if largest * max(1, factor) < _INT64_HEADROOM:
        return integers
    return integers.astype(object)  # Python ints: exact at any size, slower, rarely needed


def _rolling_int_sum(integers: np.ndarray, window: int) -> np.ndarray:
    """Sums of each `window` integers ending at i (exact); entries before window-1 are 0.

    The running total may wrap around in int64 over a long series, but each difference is a
    window's sum, which `_wide` made sure fits: modulo 2**64 it comes out exact."""
    totals = np.concatenate((np.zeros(1, dtype=integers.dtype), np.cumsum(integers)))
    out = np.zeros(integers.shape[0], dtype=integers.dtype)
    if 1 <= window <= integers.shape[0]:
        out[window - 1:] = totals[window:] - totals[:-window]
    return out


def _signs(difference: np.ndarray, defined_from: int) -> np.ndarray:
    """-1.0 / 0.0 / +1.0 per entry, NaN before `defined_from` (the warm-up)."""
    out = np.sign(difference.astype(np.float64) if difference.dtype == object
                  else difference).astype(np.float64)
    out[:defined_from] = np.nan
    return out


def decimal(value: float) -> Fraction:
    """A price or parameter, held as a float, as the decimal it was written as (its shortest
    repr: 0.1 is 1/10), exactly."""
    return Fraction(repr(float(value)))


def _fraction(value: float) -> tuple[int, int]:
    """A parameter (a decimal typed by a user, held as a float) as numerator, denominator."""
    exact = decimal(value)
    return exact.numerator, exact.denominator


def exactly_at_least(value: float, threshold: float, exact_threshold: Callable[[], Fraction],
                     *, strictly: bool = False) -> bool:
    """value >= threshold (value > threshold with `strictly`) as exact decimals would have it.

    `threshold` is the float computation of `exact_threshold()`; where the two sides are
    further apart than its rounding error could reach, the float answer stands, and only a
    near tie pays for the exact one.
    """
    if abs(value - threshold) > 1e-9 * max(abs(value), abs(threshold)):
        return value > threshold if strictly else value >= threshold
    exact_value, exact_limit = decimal(value), exact_threshold()
    return exact_value > exact_limit if strictly else exact_value >= exact_limit


def mean_order(values: np.ndarray, short: int, long: int) -> np.ndarray:
    """sign(SMA(short) - SMA(long)) at every candle, exact for decimal prices; NaN until the
    longer average exists. Compares sum_short * long with sum_long * short: no division."""
    integers = scaled_integers(values)
    if integers is None:
        return _signs(rolling_mean(values, short) - rolling_mean(values, long), long - 1)
    integers = _wide(integers, short * long)
    difference = _rolling_int_sum(integers, short) * long - \
        _rolling_int_sum(integers, long) * short
    return _signs(difference, long - 1)


def level_order(values: np.ndarray, period: int) -> np.ndarray:
    """sign(value - SMA(period)) at every candle, exact for decimal prices: value * period
    against the window's sum. NaN until the average exists."""
    integers = scaled_integers(values)
    if integers is None:
        return _signs(np.asarray(values, dtype=np.float64) - rolling_mean(values, period),
                      period - 1)
    integers = _wide(integers, period)
    return _signs(integers * period - _rolling_int_sum(integers, period), period - 1)


def band_order(values: np.ndarray, period: int, width: float) -> np.ndarray:
    """sign(value - (SMA + width·σ)) at every candle (σ: population standard deviation of
    the window), exact for decimal prices; NaN until the band exists.

    The float comparison decides wherever its margin dwarfs its rounding error; the few
    candles within that margin (a close on its band, flat markets) are decided exactly:
    with d = n·value - Σx and V = n·Σx² - (Σx)², value > SMA + k·σ  <=>  d > 0 and
    d² > k²·V, in integers.
    """
    values = np.asarray(values, dtype=np.float64)
    upper = rolling_mean(values, period) + width * rolling_std(values, period)
    difference = values - upper
    out = _signs(difference, period - 1)
    integers = scaled_integers(values)
    if integers is None:
        return out
    margin = 1e-9 * np.maximum(np.abs(values), np.abs(upper))
    close_calls = np.flatnonzero(~(np.abs(difference) > margin))
    close_calls = close_calls[close_calls >= period - 1]
    if close_calls.shape[0]:
        numerator, denominator = _fraction(width)
        numbers = integers.tolist()
        for index in close_calls.tolist():
            out[index] = _exact_band_sign(numbers[index - period + 1:index + 1],
                                          numerator, denominator)
    return out


def _exact_band_sign(window: list[int], numerator: int, denominator: int) -> float:
    """sign(last - (mean + (numerator/denominator)·σ)) of `window`, in Python integers."""
    count, total = len(window), sum(window)
    distance = count * window[-1] - total  # n·(value - mean)
    spread = count * sum(value * value for value in window) - total * total  # n²·σ²
    if distance <= 0:
        return -1.0 if distance < 0 or (spread > 0 and numerator > 0) else 0.0
    lhs = (denominator * distance) ** 2
    rhs = numerator * numerator * spread
    return float((lhs > rhs) - (lhs < rhs))


def rsi_order(close: np.ndarray, period: int, level: float) -> np.ndarray:
    """sign(RSI(period) - level) at every candle (Cutler's RSI, 50 when nothing moved),
    exact for decimal prices; NaN for the first `period` candles.

    RSI = 100·G / (G + L) with G, L the window's summed gains and losses, so RSI > level
    <=> 100·q·G > p·(G + L) for level = p/q, in integers.
    """
    integers = scaled_integers(close)
    if integers is None:
        return _signs(rsi(close, period) - level, period)
    numerator, denominator = _fraction(level)
    integers = _wide(integers, 2 * period * 100 * max(denominator, abs(numerator), 1))
    change = np.diff(integers, prepend=integers[:1])
    zero = np.zeros(1, dtype=integers.dtype)[0]
    gains = _rolling_int_sum(np.where(change > 0, change, zero), period)
    losses = _rolling_int_sum(np.where(change < 0, -change, zero), period)
    moved = gains + losses
    difference = 100 * denominator * gains - numerator * moved
    # Nothing moved: RSI is 50 by definition, compared as 50·q against p.
    still = np.full(moved.shape[0], 50 * denominator - numerator, dtype=difference.dtype)
    return _signs(np.where(moved == 0, still, difference), period)
