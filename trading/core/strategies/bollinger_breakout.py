"""Bollinger breakout: ride a close above the upper band until it loses the middle band."""
from __future__ import annotations

from typing import Any

import numpy as np

from trading.core.candles import Candles
from trading.core.strategies.base import Param, Strategy
from trading.core.strategies.indicators import band_order, crossed_above, crossed_below, level_order


class BollingerBreakout(Strategy):
    """Enter when the close crosses above the upper band (SMA + k·σ); exit when it crosses below
    the middle band (the SMA). σ is the population standard deviation of the same window.
    Both comparisons are exact for decimal prices (indicators.band_order, level_order).
    """

    key = "bollinger_breakout"
    name = "Bollinger breakout"
    description = "Buys a close breaking above the upper Bollinger band; sells when the close " \
                  "falls back below the middle band."
    params = (
        Param("period", "int", 20, minimum=2, maximum=1000, description="Band length (candles)"),
        Param("std_dev", "float", 2.0, minimum=0.1, maximum=10,
              description="Band width in standard deviations"),
    )

    @classmethod
    def warmup(cls, params=None) -> int:
        """The bands exist from candle period-1; the crossing needs the candle before."""
        return cls.validate_params(params)["period"]

    @classmethod
    def compute(cls, candles: Candles, params: dict[str, Any]) -> np.ndarray:
        """+1 on a close crossing above the upper band, -1 on one crossing below the middle."""
        to_upper = band_order(candles.close, params["period"], params["std_dev"])
        to_middle = level_order(candles.close, params["period"])
        zero = np.zeros_like(to_upper)
        signals = np.zeros(len(candles), dtype=np.int8)
        signals[crossed_above(to_upper, zero)] = 1
        signals[crossed_below(to_middle, zero)] = -1
        return signals
