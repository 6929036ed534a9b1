"""Higher-timeframe candles built from finer ones (5m, 15m, 1h, 4h, 1d from 1m, and so on).

Buckets are aligned to UTC boundaries of the epoch (a 4h candle starts at 00:00, 04:00, ...
UTC; a day at midnight UTC), as exchanges publish them. Per bucket: the first open, the
highest high, the lowest low, the last close and the summed volume. A bucket the series does
not cover to its end (the trailing one still forming) or from its start (the series began in
the middle of it) is dropped, so every candle returned is whole. A gap inside a bucket (a
minute without trades) still makes a candle from what traded, as an exchange's would.

Pure: NumPy only.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.timeframes import timeframe_ms

# The timeframes a replay or stored history offers by resampling when no native file exists:
# those that divide a UTC day. Not 1w: exchanges start weeks on Monday, the epoch on Thursday.
RESAMPLED_TIMEFRAMES = ("3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")


def resample(candles: Candles, source: str, target: str) -> Candles:
    """`candles` of timeframe `source` merged into whole candles of `target`.

    ValidationFailed (field `timeframe`) when `target` is not a whole multiple of `source`.
    """
    source_ms, target_ms = timeframe_ms(source), timeframe_ms(target)
    if target_ms == source_ms:
        return candles
    if target_ms % source_ms:
        raise ValidationFailed(f"{target} candles cannot be built from {source} candles.",
                               field="timeframe")
    if not len(candles):
        return candles
    buckets = candles.timestamp - candles.timestamp % target_ms
    starts = np.flatnonzero(np.concatenate([[True], buckets[1:] != buckets[:-1]]))
    ends = np.concatenate([starts[1:], [len(candles)]])
    merged = Candles(buckets[starts].astype(np.int64), candles.open[starts],
                     np.maximum.reduceat(candles.high, starts),
                     np.minimum.reduceat(candles.low, starts), candles.close[ends - 1],
                     np.add.reduceat(candles.volume, starts))
    first = 0 if candles.timestamp[0] == buckets[0] else 1
    last_covered = int(candles.timestamp[-1]) + source_ms >= int(buckets[-1]) + target_ms
    last = len(merged) if last_covered else len(merged) - 1
    return merged[first:max(first, last)]


def resample_source(native: Iterable[str], target: str) -> str | None:
    """The native timeframe to build `target` from: `target` itself when native, else the
    coarsest native one that divides it (most history per candle, least work); None when
    none does or `target` is not one of RESAMPLED_TIMEFRAMES."""
    native = set(native)
    if target in native:
        return target
    if target not in RESAMPLED_TIMEFRAMES:
        return None
    target_ms = timeframe_ms(target)
    divisors = [tf for tf in native if timeframe_ms(tf) < target_ms
                and target_ms % timeframe_ms(tf) == 0]
    return max(divisors, key=timeframe_ms) if divisors else None


def derivable_timeframes(native: Iterable[str]) -> set[str]:
    """Every timeframe served from `native` series: the native ones and those resampled."""
    native = set(native)
    return native | {tf for tf in RESAMPLED_TIMEFRAMES if resample_source(native, tf)}
