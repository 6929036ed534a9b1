"""Sample OHLCV: deterministic, valid, and shaped like a real market."""
from __future__ import annotations

import numpy as np
import pytest

from trading.core.candles import load_csv
from trading.sampledata import (
    PROFILES,
    SAMPLE_END_MS,
    ensure_sample_files,
    generate,
    resample,
    sample_path,
)

START_MS = 1_704_067_200_000


@pytest.fixture(scope="module")
def btc_hours():
    return generate("BTC/USDT", "1h", 2 * 365 * 24, seed=11, start_ms=START_MS)


def test_the_same_seed_gives_the_same_candles_and_another_seed_does_not():
    first = generate("ETH/USDT", "1m", 2000, seed=5, start_ms=START_MS)
    again = generate("ETH/USDT", "1m", 2000, seed=5, start_ms=START_MS)
    other = generate("ETH/USDT", "1m", 2000, seed=6, start_ms=START_MS)

    assert first.to_rows() == again.to_rows()
    assert not np.array_equal(first.close, other.close)


@pytest.mark.parametrize(("symbol", "timeframe"), [("BTC/USDT", "1m"), ("ETH/USDT", "1h")])
def test_every_candle_is_valid(symbol, timeframe):
    candles = generate(symbol, timeframe, 5000, seed=1, start_ms=START_MS)
    step = 60_000 if timeframe == "1m" else 3_600_000

    assert np.all(np.diff(candles.timestamp) == step) and candles.timestamp[0] == START_MS
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))
    assert np.all(candles.low <= np.minimum(candles.open, candles.close))
    assert np.all(candles.low > 0) and np.all(candles.volume > 0)
    assert np.array_equal(candles.open[1:], candles.close[:-1])  # no gaps between candles
    assert np.array_equal(candles.close, np.round(candles.close, 2))  # on the 0.01 tick


@pytest.mark.parametrize("symbol", list(PROFILES))
def test_prices_stay_in_the_symbols_familiar_range(symbol):
    profile = PROFILES[symbol]
    candles = generate(symbol, "1h", 2 * 365 * 24, seed=2, start_ms=START_MS)

    inside = (candles.close >= profile.low) & (candles.close <= profile.high)
    assert inside.mean() > 0.95
    assert candles.close.min() > 0.8 * profile.low and candles.close.max() < 1.2 * profile.high


def test_volatility_clusters(btc_hours):
    moves = np.abs(np.diff(np.log(btc_hours.close)))

    # Big moves follow big moves: |returns| are autocorrelated (independent noise gives ~0).
    assert np.corrcoef(moves[:-1], moves[1:])[0, 1] > 0.05


def test_volume_rises_with_volatility(btc_hours):
    body = np.abs(np.log(btc_hours.close / btc_hours.open))

    assert np.corrcoef(body, btc_hours.volume)[0, 1] > 0.3


def test_it_has_trends_and_ranges(btc_hours):
    # Over a week (168 h) the price sometimes moves far, sometimes hardly at all.
    weekly = np.abs(np.log(btc_hours.close[168::168] / btc_hours.close[:-168:168]))

    assert weekly.max() > 0.08 and weekly.min() < 0.02


def test_an_unknown_symbol_is_refused():
    with pytest.raises(ValueError, match="DOGE/USDT"):
        generate("DOGE/USDT", "1m", 10, seed=1, start_ms=START_MS)


def test_sample_files_are_written_once_and_agree_with_each_other(tmp_path):
    # How long writing them takes is a figure of bench/backtest.py.
    paths = ensure_sample_files(tmp_path)
    stamps = {key: path.stat().st_mtime_ns for key, path in paths.items()}

    assert paths[("BTC/USDT", "1m")] == sample_path(tmp_path, "BTC/USDT", "1m") == \
        tmp_path / "replay" / "BTC-USDT-1m.csv"
    assert ensure_sample_files(tmp_path) == paths
    assert {key: path.stat().st_mtime_ns for key, path in paths.items()} == stamps
    minutes, hours = load_csv(paths[("ETH/USDT", "1m")]), load_csv(paths[("ETH/USDT", "1h")])
    assert len(minutes) == 30 * 24 * 60 and len(hours) == 2 * 365 * 24
    assert minutes.timestamp[-1] + 60_000 == hours.timestamp[-1] + 3_600_000 == SAMPLE_END_MS
    # Where they overlap, the hours are the minutes resampled.
    assert hours[-720:].to_rows() == resample(minutes, 60).to_rows()
