"""Parameter sweeps with an out-of-sample guard (walk-forward, one split).

The candles are cut in two: the first part (in-sample) ranks every combination of the grid, the
last `out_of_sample_pct` percent (out-of-sample) shows how each combination did on candles the
ranking never saw. Each part is its own backtest, exactly as `run_backtest` on that slice would
run it (the strategy warms up again at the start of the out-of-sample part), so a row's
out-of-sample figures are those of a single backtest over the same candles.

The bounds below are the only ones: the API, the page and the service all use them.
Nothing here touches the database.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal, DecimalException, InvalidOperation
from typing import Any

import numpy as np

from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.metrics import equity_metrics, trade_metrics
from trading.core.backtest.run_paths import run_fast
from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.strategies import get_strategy
from trading.core.strategies.base import Param, Strategy

MAX_COMBINATIONS = 400
MAX_VALUES_PER_PARAMETER = 100
OUT_OF_SAMPLE_PCT_DEFAULT = 30
OUT_OF_SAMPLE_PCT_MIN = 10
OUT_OF_SAMPLE_PCT_MAX = 50
MIN_SLICE_CANDLES = 2
# Strategies a sweep cannot run: ml_signal follows one trained model of a tenant.
NOT_SWEEPABLE = frozenset({"ml_signal"})
# The figures kept per part and combination (the full report is one backtest away).
ROW_METRICS = ("return_pct", "max_drawdown_pct", "trades", "win_rate_pct", "sharpe")
RANK_BY = "return_pct"
PARTS = ("in_sample", "out_of_sample")
# Colour steps of a heatmap cell (CSS classes heat-0 .. heat-N-1: worst to best).
HEATMAP_LEVELS = 7

Progress = Callable[[float], None]
Grid = dict[str, list[Any]]


def describe_bounds() -> dict[str, int]:
    """The bounds as JSON, for the page and the API's description."""
    return {"max_combinations": MAX_COMBINATIONS,
            "max_values_per_parameter": MAX_VALUES_PER_PARAMETER,
            "out_of_sample_pct_min": OUT_OF_SAMPLE_PCT_MIN,
            "out_of_sample_pct_max": OUT_OF_SAMPLE_PCT_MAX,
            "out_of_sample_pct_default": OUT_OF_SAMPLE_PCT_DEFAULT}


def sweepable_strategy(key: str) -> type[Strategy]:
    """The strategy class for a sweep; ValidationFailed naming `strategy` otherwise."""
    strategy = get_strategy(key)
    if strategy.key in NOT_SWEEPABLE:
        raise ValidationFailed(f"{strategy.key} follows a trained model and cannot be swept; "
                               "backtest the model from its own page.", field="strategy")
    return strategy


def out_of_sample_pct(raw: Any) -> int:
    """The out-of-sample share as a whole percent within the bounds; ValidationFailed else."""
    if raw is None or raw == "":
        return OUT_OF_SAMPLE_PCT_DEFAULT
    if isinstance(raw, bool):
        raise ValidationFailed("out_of_sample_pct must be a whole percent.",
                               field="out_of_sample_pct")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value != value.to_integral_value():
        raise ValidationFailed(f"out_of_sample_pct must be a whole percent, got {raw!r}.",
                               field="out_of_sample_pct")
    if not OUT_OF_SAMPLE_PCT_MIN <= value <= OUT_OF_SAMPLE_PCT_MAX:
        raise ValidationFailed(
            f"out_of_sample_pct must be between {OUT_OF_SAMPLE_PCT_MIN} and "
            f"{OUT_OF_SAMPLE_PCT_MAX}, got {raw}.", field="out_of_sample_pct")
    return int(value)


# --- The grid ----------------------------------------------------------------------------------

def expand_grid(strategy: type[Strategy], spec: Any) -> Grid:
    """Each swept parameter's values, checked against its declared type and range.

    `spec` maps a parameter name to a list of values or to {"min", "max", "step"} (numbers
    only; step defaults to 1 for whole numbers). At most MAX_VALUES_PER_PARAMETER values per
    parameter and MAX_COMBINATIONS combinations; ValidationFailed names the bad field.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ValidationFailed("Choose at least one parameter to sweep, with its values.",
                               field="grid")
    declared = {param.name: param for param in strategy.params}
    grid: Grid = {}
    for name, values in spec.items():
        param = declared.get(name)
        if param is None:
            allowed = ", ".join(sorted(declared)) or "none"
            raise ValidationFailed(f"Unknown parameter {name!r} for {strategy.key}; "
                                   f"allowed: {allowed}.", field=name)
        grid[name] = _parameter_values(param, values)
    total = combination_count(grid)
    if total > MAX_COMBINATIONS:
        raise ValidationFailed(f"The grid has {total} combinations; a sweep runs at most "
                               f"{MAX_COMBINATIONS}. Use fewer values or a larger step.",
                               field="grid")
    return grid


def combination_count(grid: Mapping[str, Sequence[Any]]) -> int:
    """How many combinations the grid has."""
    return math.prod(len(values) for values in grid.values())


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, in order (the first parameter varies slowest)."""
    names = list(grid)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(grid[name] for name in names))]


def _parameter_values(param: Param, raw: Any) -> list[Any]:
    if isinstance(raw, Mapping):
        raw = _range_values(param, raw)
    elif isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise ValidationFailed(f"Give {param.name} a list of values or a min, max and step.",
                               field=param.name)
    if len(raw) > MAX_VALUES_PER_PARAMETER:
        raise ValidationFailed(f"{param.name} has {len(raw)} values; at most "
                               f"{MAX_VALUES_PER_PARAMETER} per parameter.", field=param.name)
    values: list[Any] = []
    for item in raw:
        value = param.coerce(item)
        if value not in values:
            values.append(value)
    if not values:
        raise ValidationFailed(f"Give {param.name} at least one value.", field=param.name)
    return values


def _range_values(param: Param, spec: Mapping[str, Any]) -> list[Any]:
    """min, min + step, ... up to max, in exact decimal steps (0.1 + 0.2 is 0.3 here)."""
    if param.type not in ("int", "float"):
        raise ValidationFailed(f"{param.name} is not a number: list its values.",
                               field=param.name)
    unknown = sorted(set(spec) - {"min", "max", "step"})
    if unknown:
        raise ValidationFailed(f"Unknown range key {unknown[0]!r} for {param.name}; use min, "
                               "max and step.", field=param.name)
    low = _decimal(param, spec.get("min"), "min")
    high = _decimal(param, spec.get("max"), "max")
    step = _decimal(param, spec.get("step", 1 if param.type == "int" else None), "step")
    if step <= 0 or high < low:
        raise ValidationFailed(f"{param.name}: the step must be positive and max at least min.",
                               field=param.name)
    _check_declared_range(param, low, "min")
    _check_declared_range(param, high, "max")
    try:
        count = int((high - low) / step) + 1
    except (DecimalException, OverflowError):  # 1e999999 / 1e-999999: far too many anyway
        count = MAX_VALUES_PER_PARAMETER + 1
    if count > MAX_VALUES_PER_PARAMETER:
        raise ValidationFailed(f"{param.name} has {count} values; at most "
                               f"{MAX_VALUES_PER_PARAMETER} per parameter.", field=param.name)
    values = [low + index * step for index in range(count)]
    if param.type == "int":
        return [int(value) if value == value.to_integral_value() else str(value)
                for value in values]
    return [float(value) for value in values]


def _check_declared_range(param: Param, value: Decimal, key: str) -> None:
    """A range end outside the parameter's declared bounds is refused before any value is
    made, with the bound in the message (not a huge number the user mistyped)."""
    if param.minimum is not None and value < Decimal(str(param.minimum)):
        raise ValidationFailed(f"{param.name}: {key} must be at least "
                               f"{param.minimum:g}.", field=param.name)
    if param.maximum is not None and value > Decimal(str(param.maximum)):
        raise ValidationFailed(f"{param.name}: {key} must be at most "
                               f"{param.maximum:g}.", field=param.name)


def _decimal(param: Param, raw: Any, key: str) -> Decimal:
    if raw is None or isinstance(raw, bool):
        raise ValidationFailed(f"{param.name}: give a number for {key}.", field=param.name)
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValidationFailed(f"{param.name}: {key} must be a number, got {raw!r}.",
                               field=param.name)
    return value


# --- The run -----------------------------------------------------------------------------------

def split_point(length: int, pct: int) -> int:
    """Index of the first out-of-sample candle: the last `pct` percent are out-of-sample."""
    return length - round(length * pct / 100)


def split_candles(candles: Candles, pct: int) -> tuple[Candles, Candles]:
    """(in-sample, out-of-sample) slices; ValidationFailed when either is too short."""
    cut = split_point(len(candles), pct)
    in_sample, out_of_sample = candles[:cut], candles[cut:]
    if min(len(in_sample), len(out_of_sample)) < MIN_SLICE_CANDLES:
        raise ValidationFailed(f"{len(candles)} candles are too few to split "
                               f"{100 - pct}/{pct}; choose a longer period.", field="start_ms")
    return in_sample, out_of_sample


def run_walk_forward(candles: Candles, config: BacktestConfig, grid: Grid, *, pct: int,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Backtest every combination on the in-sample and on the out-of-sample candles.

    Returns {"split", "parameters", "grid", "rank_by", "rows", "invalid"}: rows ranked by
    in-sample
    return (best first, `rank` 1..n), each {"rank", "params", "in_sample", "out_of_sample"}
    with ROW_METRICS; the combinations the strategy refuses as {"params", "error"}.
    """
    in_sample, out_of_sample = split_candles(candles, pct)
    report = progress or (lambda percent: None)
    todo = combinations(grid)
    rows, invalid = [], []
    for done, params in enumerate(todo, start=1):
        try:
            resolved = replace(config, params={**config.params, **params}).resolve()
        except ValidationFailed as exc:
            invalid.append({"params": params, "error": exc.message})
        else:
            rows.append({"params": resolved.params,
                         "in_sample": _metrics(in_sample, resolved),
                         "out_of_sample": _metrics(out_of_sample, resolved)})
        report(100.0 * done / len(todo))
    rows.sort(key=lambda row: _rank_value(row["in_sample"][RANK_BY]), reverse=True)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return {"split": _split_summary(in_sample, out_of_sample, pct), "parameters": list(grid),
            "grid": {name: list(values) for name, values in grid.items()},
            "rank_by": RANK_BY, "rows": rows, "invalid": invalid}


def _metrics(candles: Candles, resolved) -> dict[str, Any]:
    """ROW_METRICS of one run: only the equity and trade figures (a sweep runs hundreds)."""
    result = run_fast(candles, resolved)
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = equity_metrics(candles, result, resolved.cash) | trade_metrics(
            result.trades.closed(), candles.timestamp)
    return {name: metrics.get(name) for name in ROW_METRICS}


def _split_summary(in_sample: Candles, out_of_sample: Candles, pct: int) -> dict[str, Any]:
    return {"out_of_sample_pct": pct,
            "in_sample": _period(in_sample), "out_of_sample": _period(out_of_sample)}


def _period(candles: Candles) -> dict[str, int]:
    return {"candles": len(candles), "start_ms": int(candles.timestamp[0]),
            "end_ms": int(candles.timestamp[-1])}


def _rank_value(value: float | None) -> float:
    return float("-inf") if value is None else value


# --- The heatmap -------------------------------------------------------------------------------

def heatmap(result: Mapping[str, Any], *, x: str, y: str, part: str = "in_sample",
            metric: str = RANK_BY) -> dict[str, Any]:
    """Two swept parameters as a table of `metric` on `part`: one row per `y` value, one
    column per `x` value (grid order). Where other parameters were swept too, a cell shows
    its best-ranked row (what the trader would pick there). A cell is None where the strategy
    refused every combination; else {"value", "level" (0 worst .. HEATMAP_LEVELS-1 best),
    "rank", "params"}. ValidationFailed names `x`, `y`, `part` or `metric`."""
    grid = result.get("grid") or {}
    for name, field in ((x, "x"), (y, "y")):
        if name not in grid:
            raise ValidationFailed(f"{name!r} was not swept; choose one of "
                                   f"{', '.join(grid) or 'none'}.", field=field)
    if x == y:
        raise ValidationFailed("Choose two different parameters for the heatmap.", field="y")
    if part not in PARTS:
        raise ValidationFailed(f"part must be one of {', '.join(PARTS)}.", field="part")
    if metric not in ROW_METRICS:
        raise ValidationFailed(f"metric must be one of {', '.join(ROW_METRICS)}.",
                               field="metric")
    best: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    for row in result.get("rows") or []:  # ranked: the first row seen in a cell is its best
        best.setdefault((row["params"][x], row["params"][y]), row)
    values = [row[part][metric] for row in best.values() if row[part][metric] is not None]
    low, high = (min(values), max(values)) if values else (None, None)
    cells = [[_cell(best.get((x_value, y_value)), part, metric, low, high)
              for x_value in grid[x]] for y_value in grid[y]]
    return {"x": x, "y": y, "part": part, "metric": metric, "x_values": list(grid[x]),
            "y_values": list(grid[y]), "cells": cells, "min": low, "max": high}


def _cell(row: Mapping[str, Any] | None, part: str, metric: str, low: float | None,
          high: float | None) -> dict[str, Any] | None:
    if row is None:
        return None
    value = row[part][metric]
    return {"value": value, "level": _level(value, low, high), "rank": row["rank"],
            "params": row["params"]}


def _level(value: float | None, low: float | None, high: float | None) -> int | None:
    if value is None or low is None or high is None:
        return None
    if high == low:
        return HEATMAP_LEVELS // 2
    return min(HEATMAP_LEVELS - 1, int((value - low) / (high - low) * HEATMAP_LEVELS))
