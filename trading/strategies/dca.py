"""DCA: the 3Commas-style deal — a base buy, more buys over time and on dips, one take profit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trading.candles import Candles
from trading.strategies.base import Param, Strategy


@dataclass
class _Deal:
    """The strategy's own view of the open deal, from the closes of the candles that bought."""

    buys: int = 0
    inverse_price_sum: float = 0.0  # Σ 1/price: equal-money buys average harmonically
    last_buy_price: float = 0.0
    last_buy_index: int = 0

    def add(self, price: float, index: int) -> None:
        """Record a buy signalled on the close of candle `index`."""
        self.buys += 1
        self.inverse_price_sum += 1.0 / price
        self.last_buy_price = price
        self.last_buy_index = index

    @property
    def average_price(self) -> float:
        """Average price of equal-money buys: the harmonic mean of their prices."""
        return self.buys / self.inverse_price_sum


class Dca(Strategy):
    """Dollar-cost averaging deals, as users of 3Commas DCA bots expect.

    A deal opens with a base buy `interval` candles after the previous deal closed (at once on
    the first candle). While it is open it buys again every `interval` candles and on every dip
    of `safety_step_pct` below the last buy ("safety orders"), up to 1 + `safety_orders` buys.
    It closes whole when the close reaches `take_profit_pct` above the average buy price.

    Simplifications of the +1/-1 contract: the strategy cannot see fills, so it averages the
    closes of the candles that signalled (the engine fills at the next open, with equal money
    per buy, hence the harmonic mean). A deal ended by the engine's own stop loss is not seen
    either; the strategy's next buy then opens a new position. The deal depends on every
    candle since the first one fed (`path_dependent`): a live bot feeds candles since it started.
    """

    key = "dca"
    name = "DCA"
    description = "Buys regularly and on dips, then sells the whole position at a take profit " \
                  "above the average buy price."
    max_entries = 21
    path_dependent = True
    params = (
        Param("interval", "int", 24, minimum=1, maximum=100_000,
              description="Candles between regular buys (and before a new deal)"),
        Param("safety_orders", "int", 4, minimum=0, maximum=20,
              description="Extra buys allowed after the base buy"),
        Param("safety_step_pct", "float", 2.0, minimum=0.1, maximum=50,
              description="Buy again when the close falls this % below the last buy"),
        Param("take_profit_pct", "float", 1.5, minimum=0.1, maximum=100,
              description="Sell everything this % above the average buy price"),
    )

    @classmethod
    def entry_limit(cls, params=None) -> int:
        """The base buy plus the safety orders."""
        return 1 + cls.validate_params(params)["safety_orders"]

    @classmethod
    def compute(cls, candles: Candles, params: dict[str, Any]) -> np.ndarray:
        """Walk the closes, opening, adding to and closing deals (see the class docstring)."""
        signals = np.zeros(len(candles), dtype=np.int8)
        interval, max_buys = params["interval"], 1 + params["safety_orders"]
        dip = 1.0 - params["safety_step_pct"] / 100.0
        target = 1.0 + params["take_profit_pct"] / 100.0
        deal: _Deal | None = None
        last_exit = -interval  # so the first candle opens the first deal
        for index, close in enumerate(candles.close.tolist()):
            if close <= 0:
                continue  # a zero price cannot be averaged; such a candle is bad data
            if deal is None:
                if index - last_exit >= interval:
                    deal = _Deal()
                    deal.add(close, index)
                    signals[index] = 1
            elif close >= deal.average_price * target:
                deal, last_exit = None, index
                signals[index] = -1
            elif deal.buys < max_buys and (close <= deal.last_buy_price * dip
                                           or index - deal.last_buy_index >= interval):
                deal.add(close, index)
                signals[index] = 1
        return signals
