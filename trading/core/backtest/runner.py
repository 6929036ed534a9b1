"""Entry points: one backtest with its full report, and a parameter sweep.

The CLI, the Celery task and the API call these; nothing here touches the database.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.fast import simulate_fast
from trading.core.backtest.lookahead import check_lookahead
from trading.core.backtest.metrics import all_metrics
from trading.core.backtest.report import build_report
from trading.core.backtest.run_paths import run_fast
from trading.core.candles import Candles
from trading.core.errors import ValidationFailed
from trading.core.strategies import Strategy

Progress = Callable[[float], None]
# Share of the progress bar each stage takes (percent at its end).
_SIGNALS_DONE, _SIMULATION_DONE, _LOOKAHEAD_DONE = 30.0, 45.0, 85.0
MIN_CANDLES = 2


def run_backtest(candles: Candles, config: BacktestConfig,
                 progress: Progress | None = None, *, pair: str = "",
                 strategy: type[Strategy] | None = None) -> dict[str, Any]:
    """Validate `config`, simulate with the fast path, check lookahead, return the report
    (`pair` names the market in its per-pair table).

    `strategy` replaces the class `config.strategy` names with one bound to its data (an
    ml_signal already on its model: the caller resolved the model, the core only runs it).
    `progress(percent)` is called with 0..100 as stages finish. Raises ValidationFailed for a
    bad config or too few candles.
    """
    resolved = config.resolve()
    if strategy is not None:
        if strategy.key != resolved.strategy.key:
            raise ValueError(f"{strategy.key} cannot stand in for {resolved.strategy.key}.")
        resolved = replace(resolved, strategy=strategy)
    _check_length(candles)
    report_progress = progress or (lambda percent: None)
    report_progress(0.0)
    signals = resolved.strategy.signals(candles, resolved.params)
    report_progress(_SIGNALS_DONE)
    result = simulate_fast(candles, signals, resolved.simulation())
    report_progress(_SIMULATION_DONE)
    lookahead = None
    if resolved.lookahead_check:
        lookahead = check_lookahead(
            resolved.strategy, candles, resolved.params, signals,
            progress=lambda done: report_progress(
                _SIMULATION_DONE + done * (_LOOKAHEAD_DONE - _SIMULATION_DONE)))
    report_progress(_LOOKAHEAD_DONE)
    report = build_report(candles, result, resolved, lookahead, pair=pair)
    report_progress(100.0)
    return report


def _check_length(candles: Candles) -> None:
    if len(candles) < MIN_CANDLES:
        raise ValidationFailed(f"A backtest needs at least {MIN_CANDLES} candles, got "
                               f"{len(candles)}.", field="data")


def sweep(candles: Candles, config: BacktestConfig, grid: Mapping[str, Sequence[Any]], *,
          rank_by: str = "return_pct") -> list[dict[str, Any]]:
    """Backtest every combination of `grid` values (on top of config.params), best first.

    Returns [{"params", "metrics"}] ranked by `rank_by` (higher is better), then the
    combinations that were invalid as [{"params", "error"}]. Metrics only: no trade list,
    no lookahead check, so a sweep stays interactive.
    """
    _check_length(candles)
    names = list(grid)
    results, invalid = [], []
    for values in itertools.product(*(grid[name] for name in names)):
        params = {**config.params, **dict(zip(names, values, strict=True))}
        try:
            resolved = replace(config, params=params).resolve()
        except ValidationFailed as exc:
            invalid.append({"params": params, "error": exc.message})
            continue
        metrics = all_metrics(candles, run_fast(candles, resolved), resolved.cash)
        results.append({"params": resolved.params, "metrics": metrics})
    results.sort(key=lambda row: _rank_value(row["metrics"].get(rank_by)), reverse=True)
    return results + invalid


def _rank_value(value: float | None) -> float:
    return float("-inf") if value is None else value
