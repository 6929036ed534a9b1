"""RSI mean reversion: buy the bounce out of oversold, sell into overbought."""
from __future__ import annotations

from typing import Any

import numpy as np

from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.strategies.base import Param, Strategy
from trading.core.strategies.indicators import crossed_above, rsi_order


class RsiReversion(Strategy):
    """Enter when RSI crosses back up through `oversold`; exit when it crosses above `overbought`.

    Waiting for the cross back up (rather than buying while RSI is still falling) avoids
    catching most of a falling knife. RSI is Cutler's (simple averages), see indicators.rsi;
    it is compared with the levels exactly (indicators.rsi_order).
    """

    key = "rsi_reversion"
    name = "RSI reversion"
    description = "Buys when RSI recovers from oversold and sells when it turns overbought."
    params = (
        Param("period", "int", 14, minimum=2, maximum=500, description="RSI length (candles)"),
        Param("oversold", "float", 30.0, minimum=1, maximum=99,
              description="Buy when RSI crosses up through this level"),
        Param("overbought", "float", 70.0, minimum=1, maximum=99,
              description="Sell when RSI crosses up through this level"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        """Oversold must sit below overbought."""
        if values["oversold"] >= values["overbought"]:
            raise ValidationFailed(f"Parameter oversold ({values['oversold']:g}) must be below "
                                   f"overbought ({values['overbought']:g}).", field="oversold")

    @classmethod
    def warmup(cls, params=None) -> int:
        # RSI needs period+1 closes; the crossing needs one more candle.
        return cls.validate_params(params)["period"] + 1

    @classmethod
    def compute(cls, candles: Candles, params: dict[str, Any]) -> np.ndarray:
        """+1 on RSI crossing up through oversold, -1 on crossing up through overbought."""
        oversold = rsi_order(candles.close, params["period"], params["oversold"])
        overbought = rsi_order(candles.close, params["period"], params["overbought"])
        zero = np.zeros_like(oversold)
        signals = np.zeros(len(candles), dtype=np.int8)
        signals[crossed_above(oversold, zero)] = 1
        signals[crossed_above(overbought, zero)] = -1
        return signals
