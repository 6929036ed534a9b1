"""Grid: buy slices as the price steps down through a ladder of levels, sell on the way up."""
from __future__ import annotations

from typing import Any

import numpy as np

from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.strategies.base import Param, Strategy


class Grid(Strategy):
    """A spot grid bot within the +1/-1 contract.

    The range [lower, upper] is split into `levels` price levels (equal steps, or equal ratios
    with spacing=geometric). When the close crosses a level downward, the bot buys one slice
    (+1), unless it already holds a slice bought at that level, as a grid keeps one order per
    level. With lower = upper = 0 the range is `range_pct` either side of the first close fed:
    a live bot's first candle, kept in its saved state (`walk`) for as long as it runs.

    Simplification: a real grid sells each slice one level above where it bought it. Here the
    exit is the whole stack (-1), when the close reaches the first level at least one level
    above the stack's average buy level, or breaks above the range. That keeps each cycle
    profitable by one grid step on average while staying a single position. Which levels are
    held depends on every candle fed (`path_dependent`).
    """

    key = "grid"
    name = "Grid"
    description = "Buys a slice each time the price falls through a grid level and sells the " \
                  "stack one level above its average."
    max_entries = 200
    path_dependent = True
    params = (
        Param("lower", "float", 0.0, minimum=0, description="Lowest level (0: automatic)"),
        Param("upper", "float", 0.0, minimum=0, description="Highest level (0: automatic)"),
        Param("levels", "int", 10, minimum=2, maximum=200, description="Number of levels"),
        Param("range_pct", "float", 10.0, minimum=0.1, maximum=90,
              description="Automatic range: this % below and above the first close"),
        Param("spacing", "choice", "arithmetic", choices=("arithmetic", "geometric"),
              description="Equal price steps or equal percentage steps"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        """Explicit bounds must be ordered and positive; 0/0 means automatic."""
        lower, upper = values["lower"], values["upper"]
        if (lower, upper) != (0.0, 0.0) and not 0 < lower < upper:
            raise ValidationFailed(f"Parameter lower ({lower:g}) must be above 0 and below "
                                   f"upper ({upper:g}), or both 0 for an automatic range.",
                                   field="lower")

    @classmethod
    def warmup(cls, params=None) -> int:
        return 1  # a crossing needs the previous close

    @classmethod
    def entry_limit(cls, params=None) -> int:
        """One slice per level at most."""
        return cls.validate_params(params)["levels"]

    @classmethod
    def price_levels(cls, first_close: float, params: dict[str, Any]) -> np.ndarray:
        """The ascending level prices for these params (automatic range around first_close)."""
        lower, upper = params["lower"], params["upper"]
        if (lower, upper) == (0.0, 0.0):
            lower = first_close * (1 - params["range_pct"] / 100)
            upper = first_close * (1 + params["range_pct"] / 100)
        if params["spacing"] == "geometric" and lower > 0:
            return np.geomspace(lower, upper, params["levels"])
        return np.linspace(lower, upper, params["levels"])

    @classmethod
    def walk(cls, candles: Candles, params: dict[str, Any],
             state: dict[str, Any] | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Walk the closes: buy a slice per level crossed down, sell the stack at its exit.

        The state holds the close the levels were drawn around (the walk's first one), the
        previous close's bucket, the levels held and the stack's exit price."""
        signals = np.zeros(len(candles), dtype=np.int8)
        if state is None:
            if not len(candles):
                return signals, {}
            anchor = float(candles.close[0])
            state = {"anchor": anchor if anchor > 0 else None, "bucket": None, "held": [],
                     "exit_price": None}
        if state["anchor"] is None:
            return signals, state  # a zero first close draws no grid: the walk stays idle
        levels = cls.price_levels(state["anchor"], params)
        # bucket[i]: how many levels are <= close[i]; a drop in bucket is a downward crossing.
        bucket = np.searchsorted(levels, candles.close, side="right").tolist()
        closes = candles.close.tolist()
        previous, held = state["bucket"], set(state["held"])
        exit_price = state["exit_price"] if state["exit_price"] is not None else float("inf")
        for index, crossed in enumerate(bucket):  # the lowest level crossed is levels[crossed]
            if previous is None:
                pass  # the first close: a crossing needs the one before
            elif closes[index] >= exit_price:
                signals[index] = -1
                held, exit_price = set(), float("inf")
            elif crossed < previous and crossed not in held:
                signals[index] = 1
                held.add(crossed)
                exit_price = cls._exit_price(levels, [levels[level] for level in sorted(held)])
            previous = crossed
        return signals, {"anchor": state["anchor"], "bucket": previous, "held": sorted(held),
                         "exit_price": None if exit_price == float("inf") else exit_price}

    @staticmethod
    def _exit_price(levels: np.ndarray, stack_levels: list[float]) -> float:
        """The first level at least one level above the stack's average (top level at most)."""
        average = len(stack_levels) / sum(1.0 / float(level) for level in stack_levels)
        # Shrunk by a hair so an average equal to a level (up to rounding) counts as that level.
        above = int(np.searchsorted(levels, average * (1 - 1e-9), side="left")) + 1
        return float(levels[min(above, len(levels) - 1)])
