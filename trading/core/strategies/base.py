"""The strategy contract shared by backtests and live ticks.

A strategy is a class with declared parameters and one pure function: `signals(candles, params)`
returns one int8 per candle, computed only from candles 0..i (closed candles):

    +1  enter long (or add one more entry, for strategies with max_entries > 1)
    -1  exit the whole position
     0  nothing

The engine (backtest or live) decides what a signal becomes: it fills at the next candle's open,
and risk rules may refuse it (cooldown, paused, no cash). Strategies never see fills, so the
same code runs in a backtest, a live tick and a test.

Most strategies are local: signal i depends only on the `warmup` candles before it, so a live
tick recomputes it from the feed's window. A path-dependent strategy (DCA, grid: a deal
cycle) depends on every candle since it started; it implements `walk`, which continues from
a saved state, and a live bot saves that state after each tick (`resume`). Its walk starts at
the bot's first candle, so a backtest starting at that candle gives the same signals.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import numpy as np

from trading.core.candles import Candles
from trading.core.errors import ValidationFailed

PARAM_TYPES = ("int", "float", "bool", "choice")
_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One declared strategy parameter: the UI renders it, `coerce` validates it."""

    name: str
    type: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"Param {self.name}: type must be one of {PARAM_TYPES}.")
        if self.type == "choice" and self.default not in self.choices:
            raise ValueError(f"Param {self.name}: default must be one of its choices.")

    def coerce(self, raw: Any) -> Any:
        """The value as its declared type, or ValidationFailed naming this parameter."""
        value = _COERCERS[self.type](self, raw)
        self._check_range(value)
        return value

    def _check_range(self, value: Any) -> None:
        if self.type not in ("int", "float"):
            return
        if self.minimum is not None and value < self.minimum:
            self._fail(f"must be at least {_number(self.minimum)}, got {_number(value)}.")
        if self.maximum is not None and value > self.maximum:
            self._fail(f"must be at most {_number(self.maximum)}, got {_number(value)}.")

    def _fail(self, problem: str) -> NoReturn:
        raise ValidationFailed(f"Parameter {self.name} {problem}", field=self.name)

    def schema(self) -> dict[str, Any]:
        """JSON-serialisable description for the API and the bot form."""
        return {"name": self.name, "type": self.type, "default": self.default,
                "minimum": self.minimum, "maximum": self.maximum,
                "choices": list(self.choices), "description": self.description}


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _coerce_int(param: Param, raw: Any) -> int:
    if isinstance(raw, bool):
        param._fail("must be a whole number, not true/false.")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw.strip())
    param._fail(f"must be a whole number, got {raw!r}.")


def _coerce_float(param: Param, raw: Any) -> float:
    if isinstance(raw, bool):
        param._fail("must be a number, not true/false.")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        param._fail(f"must be a number, got {raw!r}.")
    if not math.isfinite(value):
        param._fail(f"must be a finite number, got {raw!r}.")
    return value


def _coerce_bool(param: Param, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    param._fail(f"must be true or false, got {raw!r}.")


def _coerce_choice(param: Param, raw: Any) -> str:
    word = str(raw).strip()
    if word not in param.choices:
        param._fail(f"must be one of {', '.join(param.choices)}, got {raw!r}.")
    return word


_COERCERS = {"int": _coerce_int, "float": _coerce_float, "bool": _coerce_bool,
             "choice": _coerce_choice}


class Strategy:
    """Base class of every strategy; subclasses declare params and implement `compute` (or,
    path-dependent ones, `walk`).

    Everything is a classmethod: a strategy holds no state between calls, which is what lets a
    live tick recompute exactly what the backtest computed. A path-dependent strategy's state
    is data the caller keeps (`walk`, `resume`).
    """

    key: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    # Upper bound of entries in one position; `entry_limit(params)` may lower it per bot.
    max_entries: ClassVar[int] = 1
    # True when a signal depends on everything fed since the first candle (a deal cycle), not
    # just on the last `warmup` candles: such a strategy implements `walk`, and a live bot
    # keeps its state between ticks (`resume`) instead of recomputing from the window.
    path_dependent: ClassVar[bool] = False

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Coerce `raw` (strings from the CLI/API are fine), apply defaults, check ranges."""
        raw = dict(raw or {})
        known = {param.name for param in cls.params}
        for name in raw:
            if name not in known:
                allowed = ", ".join(sorted(known)) or "none"
                raise ValidationFailed(f"Unknown parameter {name!r} for {cls.key}; "
                                       f"allowed: {allowed}.", field=name)
        values = {param.name: param.coerce(raw.get(param.name, param.default))
                  for param in cls.params}
        cls.check_params(values)
        return values

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        """Rules across parameters (fast < slow); raise ValidationFailed naming a field."""

    @classmethod
    def signals(cls, candles: Candles, params: Mapping[str, Any] | None = None) -> np.ndarray:
        """One int8 per candle (+1 enter/add, -1 exit all, 0 nothing) from closed candles only.

        Signals inside the warm-up are forced to 0 so no strategy acts on half-formed
        indicators.
        """
        values = cls.validate_params(params)
        raw = np.asarray(cls.compute(candles, values))
        if raw.shape != (len(candles),):
            raise RuntimeError(f"{cls.key}.compute returned shape {raw.shape} for "
                               f"{len(candles)} candles.")
        signals = np.sign(raw).astype(np.int8)
        signals[: cls.warmup(values)] = 0
        return signals

    @classmethod
    def compute(cls, candles: Candles, params: dict[str, Any]) -> np.ndarray:
        """The strategy itself: signals for every candle from validated params (a
        path-dependent strategy walks from the first candle)."""
        if cls.path_dependent:
            return cls.walk(candles, params, None)[0]
        raise NotImplementedError

    @classmethod
    def walk(cls, candles: Candles, params: dict[str, Any],
             state: dict[str, Any] | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Path-dependent strategies: signals for `candles`, continuing from `state` (the
        state after the candle before candles[0]; None starts at candles[0]), and the state
        after the last one, as JSON-serialisable data. Walking in pieces gives the signals of
        one walk, bit for bit; the walk's own warm-up gives 0s, like `signals`."""
        raise NotImplementedError

    @classmethod
    def resume(cls, candles: Candles, params: Mapping[str, Any] | None,
               saved: Mapping[str, Any] | None) -> tuple[np.ndarray, dict[str, Any]]:
        """A live tick of a path-dependent strategy: the signals on the candles that closed
        since the previous tick (the last one is the newest candle's) and the state to save.

        `saved` is what the previous tick returned. The walk continues from it over the
        candles that closed since; it starts afresh at the newest candle (as the bot's first
        tick does) when there is nothing to continue: no state yet, other parameters, or the
        candle it ended on is no longer in `candles` (a gap longer than the feed's window).
        """
        values = cls.validate_params(params)
        key = json.dumps(values, sort_keys=True)
        start, state = max(len(candles) - 1, 0), None
        if saved and saved.get("params") == key:
            found = int(np.searchsorted(candles.timestamp, saved["last_ts"]))
            if found < len(candles) and int(candles.timestamp[found]) == saved["last_ts"]:
                start, state = found + 1, saved["walk"]
        fed = candles[start:]
        if not len(fed):
            return np.zeros(0, dtype=np.int8), dict(saved or {})
        signals, state = cls.walk(fed, values, state)
        return np.sign(signals).astype(np.int8), {"params": key,
                                                  "last_ts": int(fed.timestamp[-1]),
                                                  "walk": state}

    @classmethod
    def warmup(cls, params: Mapping[str, Any] | None = None) -> int:
        """Candles needed before the first signal can appear (signals[:warmup] are 0)."""
        return 0

    @classmethod
    def longest_warmup(cls) -> int:
        """The longest warm-up the parameter bounds allow: each whole-number parameter at its
        maximum in turn, the others at their defaults (combinations the cross-parameter rules
        refuse are skipped). Live feeds are sized up to this."""
        longest = cls.warmup(None)
        for param in cls.params:
            if param.type != "int" or param.maximum is None:
                continue
            try:
                longest = max(longest, cls.warmup({param.name: int(param.maximum)}))
            except ValidationFailed:
                continue
        return longest

    @classmethod
    def entry_limit(cls, params: Mapping[str, Any] | None = None) -> int:
        """Most entries one position may take with these params (1 for single-entry)."""
        return cls.max_entries

    @classmethod
    def param_schema(cls) -> list[dict[str, Any]]:
        """The declared parameters as JSON for the API and the bot form."""
        return [param.schema() for param in cls.params]

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Key, name, description, limits and parameters as JSON for strategy lists."""
        return {"key": cls.key, "name": cls.name, "description": cls.description,
                "max_entries": cls.max_entries, "path_dependent": cls.path_dependent,
                "params": cls.param_schema()}
