"""Deterministic, realistic OHLCV for the offline demo, tests and replay (nothing downloaded).

The price is a random walk in log space whose variance follows GARCH(1,1), so calm and
turbulent stretches cluster like real crypto markets. On top, a hidden regime switches
between up-trends, down-trends and ranges (which pull the price back toward where they began),
and a soft band keeps each symbol in its familiar range (BTC/USDT 30k-70k, ETH/USDT
1.5k-4k). Each candle opens at the previous close; high and low reach beyond open and close
by an amount that scales with the moment's volatility; volume rises with volatility.
The same (symbol, timeframe, n, seed, start_ms) always gives the same candles.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trading.core.candles import Candles, write_csv
from trading.core.timeframes import timeframe_ms


@dataclass(frozen=True)
class SymbolProfile:
    """How a market behaves: its price band, tick size and typical volume per minute."""

    low: float
    high: float
    tick: float
    volume_per_minute: float
    volatility_per_minute: float  # standard deviation of 1m log returns, on average


PROFILES = {
    "BTC/USDT": SymbolProfile(low=30_000, high=70_000, tick=0.01, volume_per_minute=12.0,
                              volatility_per_minute=0.0009),
    "ETH/USDT": SymbolProfile(low=1_500, high=4_000, tick=0.01, volume_per_minute=160.0,
                              volatility_per_minute=0.0011),
}

# Sample files: 30 days of 1m and 2 years of 1h, ending at the same moment.
SAMPLE_END_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SAMPLE_SPANS = {"1m": 30 * 24 * 60, "1h": 2 * 365 * 24}
SAMPLE_SYMBOLS = ("BTC/USDT", "ETH/USDT")

# GARCH(1,1): variance_t = omega + ALPHA * shock_{t-1}^2 + BETA * variance_{t-1}
ALPHA, BETA = 0.07, 0.91
REGIME_BARS = 1_500  # mean regime length in bars (about a day of 1m, two months of 1h)
BAND_PULL = 0.02  # per bar, times how far (in log price) the price strayed out of its band


def generate(symbol: str, timeframe: str, n: int, seed: int, start_ms: int, *,
             start_price: float | None = None) -> Candles:
    """`n` candles of `symbol` every `timeframe` from `start_ms`, reproducible by `seed`.

    The walk begins at `start_price` when given (to continue another series), else at a
    random price inside the symbol's band.
    """
    profile = PROFILES.get(symbol)
    if profile is None:
        raise ValueError(f"no sample profile for {symbol}; known: {', '.join(PROFILES)}")
    if n < 1:
        raise ValueError("n must be at least 1")
    step_ms = timeframe_ms(timeframe)
    rng = np.random.default_rng(seed)
    bar_volatility = profile.volatility_per_minute * math.sqrt(step_ms / 60_000)
    log_close, sigma = _price_path(rng, profile, n, bar_volatility, start_price)
    open_, high, low, close = _bars(rng, profile, log_close, sigma, start_price)
    volume = _volumes(rng, profile, sigma, np.abs(np.log(close / open_)), bar_volatility,
                      step_ms)
    timestamp = start_ms + step_ms * np.arange(n, dtype=np.int64)
    return Candles(timestamp, open_, high, low, close, volume)


def _price_path(rng: np.random.Generator, profile: SymbolProfile, n: int,
                bar_volatility: float, start_price: float | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Log closes and the per-bar volatility of a GARCH walk with regimes and a soft band."""
    shocks = rng.standard_normal(n)
    regime_drift, range_pull = _regimes(rng, n, bar_volatility)
    # The pull starts a tenth of the band inside its edges, so excursions stay near the band.
    margin = 0.1 * math.log(profile.high / profile.low)
    band_low, band_high = math.log(profile.low) + margin, math.log(profile.high) - margin
    log_price = rng.uniform(band_low + margin, band_high - margin)
    if start_price is not None:
        log_price = math.log(start_price)
    omega = bar_volatility**2 * (1 - ALPHA - BETA)
    variance, last_shock, anchor, previous_pull = bar_volatility**2, 0.0, log_price, 0.0
    log_close, sigma = np.empty(n), np.empty(n)
    # A plain loop: GARCH variance depends on the previous shock, so it cannot be vectorised
    # without losing the clustering; tens of thousands of float steps take a few tens of ms.
    for i, (drift, pull, shock) in enumerate(zip(regime_drift.tolist(), range_pull.tolist(),
                                                  shocks.tolist(), strict=True)):
        variance = omega + ALPHA * last_shock**2 + BETA * variance
        volatility = math.sqrt(variance)
        if pull and not previous_pull:
            anchor = log_price  # a new range holds around where it starts
        band = BAND_PULL * (min(0.0, band_high - log_price) + max(0.0, band_low - log_price))
        last_shock = volatility * shock
        log_price += drift + pull * (anchor - log_price) + band + last_shock
        log_close[i], sigma[i], previous_pull = log_price, volatility, pull
    return log_close, sigma


def _regimes(rng: np.random.Generator, n: int, bar_volatility: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar drift (trends) and mean-reversion strength (ranges) of a random regime walk."""
    drift, pull = np.zeros(n), np.zeros(n)
    start = 0
    while start < n:
        length = min(int(rng.exponential(REGIME_BARS)) + 50, 3 * REGIME_BARS)
        kind = rng.choice(3, p=(0.35, 0.3, 0.35))  # up, down, range
        end = min(n, start + length)
        if kind < 2:
            strength = rng.uniform(0.01, 0.04) * bar_volatility
            drift[start:end] = strength if kind == 0 else -strength
        else:
            pull[start:end] = rng.uniform(0.002, 0.01)
        start = end
    return drift, pull


def _bars(rng: np.random.Generator, profile: SymbolProfile, log_close: np.ndarray,
          sigma: np.ndarray, start_price: float | None) -> tuple[np.ndarray, ...]:
    """Open, high, low, close on the tick grid, with high/low around open and close."""
    close = np.exp(log_close)
    open_ = np.empty_like(close)
    first_open = close[0] * math.exp(-sigma[0] * rng.standard_normal())
    open_[0] = first_open if start_price is None else start_price
    open_[1:] = close[:-1]
    wick_up = np.exp(np.abs(rng.standard_normal(len(close))) * sigma * 0.6)
    wick_down = np.exp(-np.abs(rng.standard_normal(len(close))) * sigma * 0.6)
    open_, close = _on_ticks(open_, profile.tick), _on_ticks(close, profile.tick)
    high = _on_ticks(np.maximum(open_, close) * wick_up, profile.tick)
    low = _on_ticks(np.minimum(open_, close) * wick_down, profile.tick)
    # Rounding must not let a wick cut into the body.
    return open_, np.maximum(high, np.maximum(open_, close)), \
        np.minimum(low, np.minimum(open_, close)), close


def _on_ticks(prices: np.ndarray, tick: float) -> np.ndarray:
    # Rounding to decimals (not multiplying back by the tick) keeps values like 41137.84
    # exact in their shortest repr, so the CSV does not read 41137.840000000004.
    return np.round(prices, max(0, round(-math.log10(tick))))


def _volumes(rng: np.random.Generator, profile: SymbolProfile, sigma: np.ndarray,
             body: np.ndarray, bar_volatility: float, step_ms: int) -> np.ndarray:
    """Volume that rises with the moment's volatility and with the bar's own move, plus noise."""
    base = profile.volume_per_minute * step_ms / 60_000
    excitement = (sigma / bar_volatility) ** 1.5 * (0.5 + 0.6 * body / sigma)
    noise = rng.lognormal(mean=-0.08, sigma=0.35, size=len(sigma))
    return np.round(base * excitement * noise, 5)


def sample_path(directory: str | Path, symbol: str, timeframe: str) -> Path:
    """Where the sample file of (symbol, timeframe) lives: directory/replay/BTC-USDT-1m.csv."""
    return Path(directory) / "replay" / f"{symbol.replace('/', '-')}-{timeframe}.csv"


def ensure_sample_files(directory: str | Path) -> dict[tuple[str, str], Path]:
    """Write the sample files that are missing (BTC/ETH, 1m and 1h); return all their paths.

    The 1h series ends with the 1m series resampled, so both tell the same story where they
    overlap (the last 30 days).
    """
    paths = {}
    for index, symbol in enumerate(SAMPLE_SYMBOLS):
        minute_path = sample_path(directory, symbol, "1m")
        hour_path = sample_path(directory, symbol, "1h")
        if not (minute_path.exists() and hour_path.exists()):
            minutes, hours = sample_series(symbol, seed=1000 + 10 * index)
            _write_atomically(minute_path, minutes)
            _write_atomically(hour_path, hours)
        paths[(symbol, "1m")], paths[(symbol, "1h")] = minute_path, hour_path
    return paths


def sample_series(symbol: str, seed: int) -> tuple[Candles, Candles]:
    """The 1m and 1h sample candles of `symbol`: 1h history leading into the 1m stretch."""
    minute_count, hour_count = SAMPLE_SPANS["1m"], SAMPLE_SPANS["1h"]
    minute_start = SAMPLE_END_MS - minute_count * timeframe_ms("1m")
    early_hours = hour_count - minute_count // 60
    early = generate(symbol, "1h", early_hours, seed, SAMPLE_END_MS - hour_count * 3_600_000)
    minutes = generate(symbol, "1m", minute_count, seed + 1, minute_start,
                       start_price=float(early.close[-1]))
    return minutes, _concatenated(early, resample(minutes, 60))


def resample(candles: Candles, factor: int) -> Candles:
    """Every `factor` consecutive candles merged into one (a trailing remainder is dropped)."""
    count = len(candles) // factor
    shaped = {name: getattr(candles, name)[:count * factor].reshape(count, factor)
              for name in ("timestamp", "open", "high", "low", "close", "volume")}
    return Candles(shaped["timestamp"][:, 0], shaped["open"][:, 0], shaped["high"].max(1),
                   shaped["low"].min(1), shaped["close"][:, -1],
                   np.round(shaped["volume"].sum(1), 5))


def _concatenated(first: Candles, second: Candles) -> Candles:
    return Candles(*(np.concatenate([getattr(first, name), getattr(second, name)])
                     for name in ("timestamp", "open", "high", "low", "close", "volume")))


def _write_atomically(path: Path, candles: Candles) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_csv(partial, candles)
    os.replace(partial, path)
