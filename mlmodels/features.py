"""Features from OHLCV, each computed only from candles up to and including its own.

Row i of a feature matrix describes the market as it stood when candle i closed: it reads
candles 0..i and nothing later, so a model trained on it can run on a live tick, and cutting
the future off never changes a past row (tests/mlmodels/test_leakage.py perturbs the future to
prove it). Windows are summed explicitly through trading.core.strategies.indicators, so a live
tick over 300 candles reproduces the backtest's rows bit for bit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aitrader.errors import ValidationFailed
from trading.core.candles import Candles
from trading.core.strategies.indicators import rolling_mean, rolling_std, rsi

RETURN_HORIZONS = (1, 2, 4, 8, 16, 32)
VOLATILITY_WINDOWS = (8, 32)
SMA_WINDOWS = (10, 30, 90)
VOLUME_WINDOW = 32
RSI_PERIOD = 14
MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned recipe: which columns, and how many candles the first row needs."""

    key: str
    description: str
    lookback: int  # row lookback-1 is the first whose every column is defined
    build: Callable[[Candles], dict[str, np.ndarray]]

    def names(self) -> list[str]:
        """Column names in matrix order (fixed by the recipe, stored with every model)."""
        return list(self.build(_probe_candles(self.lookback)).keys())


def _log_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    out = np.full(close.shape[0], np.nan)
    out[horizon:] = np.log(close[horizon:] / close[:-horizon])
    return out


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a flat market, zero volume)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return np.where(denominator == 0, 0.0, ratio)


def _price_columns(candles: Candles) -> dict[str, np.ndarray]:
    close = candles.close
    columns = {f"return_{h}": _log_returns(close, h) for h in RETURN_HORIZONS}
    one_step = _log_returns(close, 1)
    for window in VOLATILITY_WINDOWS:
        columns[f"volatility_{window}"] = rolling_std(one_step, window)
    short, long = (columns[f"volatility_{w}"] for w in VOLATILITY_WINDOWS)
    columns["volatility_ratio"] = _safe_ratio(short, long)
    columns[f"rsi_{RSI_PERIOD}"] = (rsi(close, RSI_PERIOD) - 50.0) / 50.0
    for window in SMA_WINDOWS:
        columns[f"sma_distance_{window}"] = np.log(close / rolling_mean(close, window))
    return columns


def _candle_shape_columns(candles: Candles) -> dict[str, np.ndarray]:
    high, low, close = candles.high, candles.low, candles.close
    spread = high - low
    candle_range = np.log(high / low)
    return {
        "range": candle_range,
        "range_ratio": _safe_ratio(candle_range, rolling_mean(candle_range, VOLUME_WINDOW)),
        "body": np.log(close / candles.open),
        "close_location": _safe_ratio(close - low, spread) - 0.5 * (spread > 0),
    }


def _volume_columns(candles: Candles) -> dict[str, np.ndarray]:
    volume = candles.volume
    mean = rolling_mean(volume, VOLUME_WINDOW)
    spread = rolling_std(volume, VOLUME_WINDOW)
    return {
        f"volume_z_{VOLUME_WINDOW}": _safe_ratio(volume - mean, spread),
        "volume_trend": np.log1p(rolling_mean(volume, 8)) - np.log1p(mean),
    }


def _calendar_columns(candles: Candles) -> dict[str, np.ndarray]:
    # Crypto trades around the clock but its activity follows the hours of the big markets;
    # the timestamp is known at the close, so this is no peek.
    hours = (candles.timestamp // MS_PER_HOUR) % 24
    days = (candles.timestamp // (24 * MS_PER_HOUR) + 3) % 7  # 1970-01-01 was a Thursday
    return {"hour_sin": np.sin(2 * np.pi * hours / 24), "hour_cos": np.cos(2 * np.pi * hours / 24),
            "weekday_sin": np.sin(2 * np.pi * days / 7),
            "weekday_cos": np.cos(2 * np.pi * days / 7)}


def _ohlcv_v1(candles: Candles) -> dict[str, np.ndarray]:
    return {**_price_columns(candles), **_candle_shape_columns(candles),
            **_volume_columns(candles), **_calendar_columns(candles)}


FEATURE_SETS: dict[str, FeatureSet] = {
    "ohlcv_v1": FeatureSet(
        key="ohlcv_v1", lookback=max(*SMA_WINDOWS, max(RETURN_HORIZONS) + 1),
        description="Log returns over 1-32 candles, volatility (8, 32), RSI 14, distance to "
                    "SMA 10/30/90, candle range and body, volume z-score and trend, hour and "
                    "weekday.",
        build=_ohlcv_v1),
}
DEFAULT_FEATURE_SET = "ohlcv_v1"


def get_feature_set(key: str) -> FeatureSet:
    """The feature set registered as `key`; ValidationFailed naming `feature_set` otherwise."""
    try:
        return FEATURE_SETS[key]
    except KeyError:
        raise ValidationFailed(f"Unknown feature set {key!r}; choose one of: "
                               f"{', '.join(sorted(FEATURE_SETS))}.", field="feature_set") from None


def compute_features(candles: Candles, feature_set: str = DEFAULT_FEATURE_SET) -> np.ndarray:
    """An (n, features) float64 matrix; rows before the set's lookback hold NaN."""
    columns = get_feature_set(feature_set).build(candles)
    matrix = np.column_stack(list(columns.values())) if len(candles) else \
        np.empty((0, len(columns)))
    return matrix.astype(np.float64, copy=False)


def _probe_candles(count: int) -> Candles:
    """A tiny synthetic series, only to read a feature set's column names."""
    close = np.linspace(100.0, 101.0, count)
    return Candles(np.arange(count, dtype=np.int64) * 60_000, close, close + 1, close - 1, close,
                   np.ones(count))
