"""The backtest report's figures and tables beyond the headline cards: freqtrade's summary,
drawdown periods, days, months, pairs, and the candles the report marks its trades on.

Reports stored before a figure existed lack it: everything is read with `.get`, so an old
report renders with — where a figure is missing.
"""
from __future__ import annotations

from typing import Any

from trading.core.backtest.compare import COMPARE_RUNS_MAX, COMPARE_RUNS_MIN
from trading.models import BacktestRun
from trading.selectors import BACKTEST_RUN_ORDERINGS
from trading.services.backtest_chart import (
    CHART_CANDLES_MAX,
    CHART_MARKS_MAX,
    backtest_chart_candles,
    chart_marks,
)

REPORT_DAILY_ROWS = 60
# The report's summary grid beyond the headline cards: (label, metrics key, display kind).
SUMMARY_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("CAGR", "cagr_pct", "percent"),
    ("Absolute drawdown", "max_drawdown_abs", "money"),
    ("Drawdown peak", "max_drawdown_high", "money"),
    ("Drawdown trough", "max_drawdown_low", "money"),
    ("Drawdown from", "drawdown_start", "time"),
    ("Drawdown to", "drawdown_end", "time"),
    ("Min balance", "balance_min", "money"),
    ("Max balance", "balance_max", "money"),
    ("Median trade", "median_trade_pct", "percent"),
    ("Median trade P&L", "median_trade_pnl", "signed_money"),
    ("Average stake", "avg_stake", "money"),
    ("Volume traded", "total_volume", "money"),
    ("Trades a day", "trades_per_day", "ratio"),
    ("Best day", "best_day_pct", "percent"),
    ("Worst day", "worst_day_pct", "percent"),
    ("Winning days", "winning_days", "count"),
    ("Losing days", "losing_days", "count"),
    ("Flat days", "draw_days", "count"),
    ("Winners held (avg)", "winner_holding_avg_hours", "hours"),
    ("Losers held (avg)", "loser_holding_avg_hours", "hours"),
    ("Expectancy", "expectancy", "signed_money"),
    ("Expectancy ratio", "expectancy_ratio", "ratio"),
)


def report_context(run: BacktestRun, report: dict[str, Any]) -> dict[str, Any]:
    """What backtest_detail adds for a finished run: the summary grid, the tables and the
    candle chart's data (None when the candles cannot be read)."""
    metrics = report.get("metrics") or {}
    daily = report.get("daily") or []
    summary = [(label, metrics.get(key), kind) for label, key, kind in SUMMARY_FIGURES]
    chart = backtest_chart_candles(run=run)
    return {
        "summary_figures": summary,
        "drawdowns": report.get("drawdowns"),
        "daily_rows": daily[-REPORT_DAILY_ROWS:][::-1],
        "daily_hidden": max(0, len(daily) - REPORT_DAILY_ROWS),
        "has_daily": "daily" in report,
        "monthly_rows": report.get("monthly"),
        "pairs": report.get("pairs"),
        "chart": chart,
        "chart_data": None if chart is None else {"candles": chart.candles,
                                                  "marks": chart_marks(report)},
        "chart_candles_max": CHART_CANDLES_MAX,
        "chart_marks_max": CHART_MARKS_MAX,
        "chart_marks_hidden": max(0, len(report.get("trades") or []) - CHART_MARKS_MAX),
    }


# The runs list's columns that sort (a name of BACKTEST_RUN_ORDERINGS each), with headers.
RUN_COLUMNS = (("created_at", "Started"), ("return_pct", "Return"),
               ("max_drawdown_pct", "Max drawdown"), ("trades", "Trades"), ("sharpe", "Sharpe"))


def runs_table_context(sort: str | None) -> dict[str, Any]:
    """The runs list's sortable headers: each links to its ?sort= (descending first, then
    ascending) and says how the list is sorted now; an unknown sort reads as newest first,
    as the selector orders it."""
    known = (sort or "").removeprefix("-") in BACKTEST_RUN_ORDERINGS
    current = sort if known else "-created_at"
    columns = {}
    for name, label in RUN_COLUMNS:
        direction = ("descending" if current == f"-{name}" else
                     "ascending" if current == name else "")
        columns[name] = {"label": label, "direction": direction,
                         "sort": name if direction == "descending" else f"-{name}"}
    return {"run_columns": columns, "runs_sort": current,
            "compare_min": COMPARE_RUNS_MIN, "compare_max": COMPARE_RUNS_MAX}
