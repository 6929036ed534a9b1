"""The candles a backtest report draws under its entry and exit marks: the run's market over
the range it ran on, from the data set it read, at most CHART_CANDLES_MAX of them.

A longer run is drawn on the finest coarser timeframe that fits (1h over two years: 12h
candles), resampled from the run's own candles; the page says so. The numbers are cached
per run (a finished run's range and data set never change), keyed by tenant and run.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.core.cache import cache

from aitrader.errors import ServiceError
from trading.core.candles import Candles
from trading.core.resample import RESAMPLED_TIMEFRAMES, resample
from trading.core.timeframes import timeframe_ms
from trading.models import BacktestRun
from trading.services.backtests import stored_candles

logger = logging.getLogger(__name__)
CHART_CANDLES_MAX = 2_000
CHART_MARKS_MAX = 1_000  # the latest trades marked; thousands of arrows hide the candles
CHART_CACHE_SECONDS = 3_600


@dataclass(frozen=True)
class ChartCandles:
    """[[ms, open, high, low, close], ...] on `timeframe` (the run's, or coarser when
    `resampled`), `dropped` of the oldest left out when even daily candles were too many."""

    candles: list[list[float]]
    timeframe: str
    run_timeframe: str
    resampled: bool
    dropped: int


def backtest_chart_candles(*, run: BacktestRun) -> ChartCandles | None:
    """The chart's candles of a finished run; None when its data can no longer be read (an
    upload removed, history repaired away) or the run has no report."""
    if run.status != BacktestRun.Status.DONE or not run.report:
        return None
    key = f"backtest-chart:{run.tenant_id}:{run.pk}"
    cached = cache.get(key)
    if cached is not None:
        return ChartCandles(**cached)
    data = (run.report.get("config") or {}).get("data") or {}
    try:
        candles = stored_candles(
            symbol=run.symbol, timeframe=run.timeframe,
            start_ms=data.get("start_ms", run.config.get("start_ms")),
            end_ms=data.get("end_ms", run.config.get("end_ms")),
            data=data.get("set") or run.config.get("data"), tenant_id=run.tenant_id,
            exchange=data.get("exchange") or run.config.get("exchange"))
    except ServiceError:
        logger.info("backtest %s: its candles cannot be read for the chart", run.pk)
        return None
    chart = fit_candles(candles, run.timeframe)
    cache.set(key, asdict(chart), CHART_CACHE_SECONDS)
    return chart


def fit_candles(candles: Candles, timeframe: str,
                limit: int = CHART_CANDLES_MAX) -> ChartCandles:
    """`candles` of `timeframe` as at most `limit` chart rows: on the finest timeframe (the
    run's own first) whose candles fit, else daily (or the run's) candles, the newest kept."""
    chosen, fitted = timeframe, candles
    if len(candles) > limit:
        step = timeframe_ms(timeframe)
        coarser = [tf for tf in RESAMPLED_TIMEFRAMES
                   if timeframe_ms(tf) > step and timeframe_ms(tf) % step == 0]
        for target in coarser:
            chosen, fitted = target, resample(candles, timeframe, target)
            if len(fitted) <= limit:
                break
    dropped = max(0, len(fitted) - limit)
    fitted = fitted[dropped:]
    rows = [list(row) for row in zip(fitted.timestamp.tolist(), fitted.open.tolist(),
                                     fitted.high.tolist(), fitted.low.tolist(),
                                     fitted.close.tolist(), strict=True)]
    return ChartCandles(rows, chosen, timeframe, chosen != timeframe, dropped)


def chart_marks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Entry and exit times with P&L of the latest CHART_MARKS_MAX trades, as the bot
    page's chart marks them."""
    return [{"entry_time": trade.get("entry_time"),
             "exit_time": None if trade.get("open") else trade.get("exit_time"),
             "pnl": trade.get("pnl")}
            for trade in (report.get("trades") or [])[-CHART_MARKS_MAX:]]
