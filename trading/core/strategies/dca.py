"""DCA: the 3Commas-style deal — a base buy, more buys over time and on dips, one take profit."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from trading.core.candles import Candles
from trading.core.strategies.base import Param, Strategy
from trading.core.strategies.indicators import decimal, exactly_at_least


@dataclass
class _Deal:
    """The strategy's own view of the open deal, from the closes of the candles that bought.

    Indices count candles from the start of the walk (a live bot's first candle)."""

    buys: int = 0
    inverse_price_sum: float = 0.0  # Σ 1/price: equal-money buys average harmonically
    last_buy_price: float = 0.0
    last_buy_index: int = 0
    prices: list[float] = field(default_factory=list)  # for the exact average on a tie

    def add(self, price: float, index: int) -> None:
        """Record a buy signalled on the close of candle `index`."""
        self.buys += 1
        self.inverse_price_sum += 1.0 / price
        self.last_buy_price = price
        self.last_buy_index = index
        self.prices.append(price)

    @property
    def average_price(self) -> float:
        """Average price of equal-money buys: the harmonic mean of their prices."""
        return self.buys / self.inverse_price_sum

    def exact_average(self) -> Fraction:
        """The harmonic mean of the buys' decimal prices, exactly."""
        return self.buys / sum(1 / decimal(price) for price in self.prices)

    def to_json(self) -> dict[str, Any]:
        """The deal as JSON (floats round-trip exactly through their repr)."""
        return asdict(self)


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
    candle since the first one fed (`path_dependent`): a live bot's deal starts on its first
    candle and is saved after every tick (`walk`), so a backtest from that candle matches it.
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
    def walk(cls, candles: Candles, params: dict[str, Any],
             state: dict[str, Any] | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Walk the closes, opening, adding to and closing deals (see the class docstring).

        The take profit and the dip are compared as exact decimals (a close exactly on its
        level reaches it), the floats deciding wherever they are clear."""
        signals = np.zeros(len(candles), dtype=np.int8)
        interval, max_buys = params["interval"], 1 + params["safety_orders"]
        dip = 1 - decimal(params["safety_step_pct"]) / 100
        target = 1 + decimal(params["take_profit_pct"]) / 100
        state = state or {"fed": 0, "last_exit": -interval, "deal": None}  # first candle buys
        fed, last_exit = state["fed"], state["last_exit"]
        deal = _Deal(**state["deal"]) if state["deal"] else None
        for offset, close in enumerate(candles.close.tolist()):
            index = fed + offset
            if close <= 0:
                continue  # a zero price cannot be averaged; such a candle is bad data
            if deal is None:
                if index - last_exit >= interval:
                    deal = _Deal()
                    deal.add(close, index)
                    signals[offset] = 1
            elif cls._reaches_target(close, deal, target):
                deal, last_exit = None, index
                signals[offset] = -1
            elif deal.buys < max_buys and (cls._dipped(close, deal, dip)
                                           or index - deal.last_buy_index >= interval):
                deal.add(close, index)
                signals[offset] = 1
        return signals, {"fed": fed + len(candles), "last_exit": last_exit,
                         "deal": deal.to_json() if deal else None}

    @staticmethod
    def _reaches_target(close: float, deal: _Deal, target: Fraction) -> bool:
        """close >= average buy price * (1 + take_profit_pct / 100)."""
        return exactly_at_least(close, deal.average_price * float(target),
                                lambda: deal.exact_average() * target)

    @staticmethod
    def _dipped(close: float, deal: _Deal, dip: Fraction) -> bool:
        """close <= last buy price * (1 - safety_step_pct / 100)."""
        return not exactly_at_least(close, deal.last_buy_price * float(dip),
                                    lambda: decimal(deal.last_buy_price) * dip, strictly=True)
