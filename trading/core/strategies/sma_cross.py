"""SMA cross: the textbook trend follower, long-only."""
from __future__ import annotations

from typing import Any

import numpy as np

from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.strategies.base import Param, Strategy
from trading.core.strategies.indicators import crossed_above, crossed_below, mean_order


class SmaCross(Strategy):
    """Enter when the fast SMA of closes crosses above the slow one, exit when it crosses below.

    A crossing compares candle i-1 with candle i: fast[i-1] <= slow[i-1] and fast[i] > slow[i],
    in exact decimal arithmetic (indicators.mean_order), so averages equal on paper are equal.
    """

    key = "sma_cross"
    name = "SMA cross"
    description = "Buys when the fast moving average crosses above the slow one; sells on the " \
                  "cross back below."
    params = (
        Param("fast", "int", 10, minimum=1, maximum=1000, description="Fast SMA length (candles)"),
        Param("slow", "int", 20, minimum=2, maximum=5000, description="Slow SMA length (candles)"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        """The fast average must be shorter than the slow one."""
        if values["fast"] >= values["slow"]:
            raise ValidationFailed(f"Parameter fast ({values['fast']}) must be smaller than slow "
                                   f"({values['slow']}).", field="fast")

    @classmethod
    def warmup(cls, params=None) -> int:
        # The slow SMA exists from candle slow-1; a crossing also needs the candle before.
        return cls.validate_params(params)["slow"]

    @classmethod
    def compute(cls, candles: Candles, params: dict[str, Any]) -> np.ndarray:
        """+1 where fast crosses above slow, -1 where it crosses below (compared exactly)."""
        order = mean_order(candles.close, params["fast"], params["slow"])
        zero = np.zeros_like(order)
        signals = np.zeros(len(candles), dtype=np.int8)
        signals[crossed_above(order, zero)] = 1
        signals[crossed_below(order, zero)] = -1
        return signals
