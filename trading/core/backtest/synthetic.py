"""Seeded random-walk candles for tests and benchmarks (not market-realistic; see marketdata
for the realistic sample data)."""
from __future__ import annotations

import numpy as np

from trading.core.candles import Candles

MINUTE_MS = 60_000


def random_walk_candles(count: int, *, seed: int = 0, start_ms: int = 1_704_067_200_000,
                        timeframe_ms: int = MINUTE_MS, start_price: float = 30_000.0,
                        volatility: float = 0.001) -> Candles:
    """`count` candles of a geometric random walk; each opens at the previous close."""
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, volatility, count)))
    open_ = np.concatenate(([start_price], close[:-1]))
    wick = np.abs(rng.normal(0.0, volatility / 2, (2, count)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    timestamp = start_ms + np.arange(count, dtype=np.int64) * timeframe_ms
    volume = rng.gamma(2.0, 5.0, count)
    return Candles(timestamp, open_, high, low, close, volume)
