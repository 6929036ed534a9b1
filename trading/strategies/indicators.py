"""Indicators whose value at candle i depends only on the window ending at i.

Every indicator here sums its window's own values, in an order fixed by the window length,
instead of using running sums (cumsum) or recursive smoothing (EMA, Wilder). That makes a
value bit-for-bit the same whether a live tick feeds 50 candles or a backtest feeds a million,
so backtest and live cannot diverge through floating-point drift, and truncating the data
never changes the past.
"""
from __future__ import annotations

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
