"""Higher timeframes built from finer candles (trading.core.resample), with hand-made candles."""
from __future__ import annotations

import numpy as np
import pytest

from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.resample import (
    RESAMPLED_TIMEFRAMES,
    derivable_timeframes,
    resample,
    resample_source,
)

MINUTE = 60_000
DAY = 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY  # a UTC midnight


def minutes(start_ms: int, closes: list[float], *, step: int = MINUTE) -> Candles:
    """One candle per close: opens at the previous close, high +1, low -1, volume 1..n."""
    closes_ = np.asarray(closes, dtype=np.float64)
    opens = np.concatenate([[closes_[0]], closes_[:-1]])
    return Candles(start_ms + step * np.arange(len(closes_), dtype=np.int64), opens,
                   np.maximum(opens, closes_) + 1, np.minimum(opens, closes_) - 1, closes_,
                   np.arange(1, len(closes_) + 1, dtype=np.float64))


def test_it_aggregates_open_high_low_close_and_volume_per_bucket():
    source = minutes(T0, [10, 12, 9, 11, 15, 14, 13, 16, 18, 17])

    five = resample(source, "1m", "5m")

    assert five.timestamp.tolist() == [T0, T0 + 5 * MINUTE]
    assert five.open.tolist() == [10, 15]            # first open of each bucket
    assert five.high.tolist() == [16, 19]            # max high
    assert five.low.tolist() == [8, 12]              # min low
    assert five.close.tolist() == [15, 17]           # last close
    assert five.volume.tolist() == [15, 40]          # 1+2+3+4+5, 6+...+10


def test_it_drops_the_incomplete_trailing_bucket():
    source = minutes(T0, [float(v) for v in range(1, 8)])  # 7 minutes: one full 5m bucket

    five = resample(source, "1m", "5m")

    assert five.timestamp.tolist() == [T0]
    assert five.close.tolist() == [5.0]


def test_buckets_align_to_utc_boundaries_not_to_the_first_candle():
    # Starts at 00:03: the 00:00 bucket lacks its first minutes and is dropped; the next
    # bucket starts on the boundary 00:05, not at 00:08.
    source = minutes(T0 + 3 * MINUTE, [float(v) for v in range(1, 13)])  # 00:03 .. 00:14

    five = resample(source, "1m", "5m")

    assert five.timestamp.tolist() == [T0 + 5 * MINUTE, T0 + 10 * MINUTE]
    assert five.open.tolist() == [2.0, 7.0]  # the 00:05 candle opens at the 00:04 close


def test_a_gap_inside_a_bucket_still_makes_a_candle_from_what_traded():
    source = minutes(T0, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
    kept = np.ones(len(source), dtype=bool)
    kept[[1, 2]] = False  # 00:01 and 00:02 missing (no trades)
    gappy = Candles(*(getattr(source, name)[kept] for name in
                      ("timestamp", "open", "high", "low", "close", "volume")))

    five = resample(gappy, "1m", "5m")

    assert five.timestamp.tolist() == [T0, T0 + 5 * MINUTE]
    assert five.open.tolist() == [10.0, 14.0]
    assert five.volume.tolist() == [1 + 4 + 5, 40.0]


def test_days_are_utc_days_and_four_hours_start_at_midnight():
    hourly = minutes(T0 - 2 * 3_600_000, [float(v) for v in range(1, 2 + 24 + 5)],
                     step=3_600_000)  # 22:00 the day before .. 04:00 the day after

    days = resample(hourly, "1h", "1d")
    fours = resample(hourly, "1h", "4h")

    assert days.timestamp.tolist() == [T0]
    assert days.open.tolist() == [2.0] and days.close.tolist() == [26.0]
    assert fours.timestamp[0] == T0 and len(fours) == 7  # 00:00 .. 04:00 next day
    assert int(fours.timestamp[-1]) == T0 + DAY


def test_the_same_timeframe_is_returned_as_is_and_a_coarser_source_is_refused():
    source = minutes(T0, [1.0, 2.0])

    assert resample(source, "1m", "1m") is source
    with pytest.raises(ValidationFailed, match="5m"):
        resample(source, "1h", "5m")
    with pytest.raises(ValidationFailed, match="7m"):
        resample(source, "1m", "7m")


def test_an_empty_or_too_short_series_resamples_to_nothing():
    assert len(resample(minutes(T0, [1.0, 2.0]), "1m", "1h")) == 0
    assert len(resample(minutes(T0, [1.0])[0:0], "1m", "5m")) == 0


def test_which_native_series_serves_a_timeframe():
    assert resample_source({"1m"}, "4h") == "1m"
    assert resample_source({"1m", "1h"}, "1d") == "1h"  # the longest history per candle
    assert resample_source({"1m", "1h"}, "1h") == "1h"  # native wins
    assert resample_source({"1h"}, "5m") is None
    assert derivable_timeframes({"1m"}) == set(RESAMPLED_TIMEFRAMES) | {"1m"}
    assert derivable_timeframes({"1h"}) == {"1h", "2h", "4h", "6h", "12h", "1d"}
    assert "1w" not in derivable_timeframes({"1m"})  # weeks start on Monday, not on the epoch
