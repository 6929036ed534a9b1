"""Backtest runs side by side: the settings and the key metrics of 2 to 6 runs in rows, the
best value of each row marked, and their equity curves as returns (pure: plain dicts in, the
same JSON-ready dict the page and the API show).

A run is given as a mapping with id, strategy, parameters, symbol, timeframe, status, config
(what was asked) and report (what came out; None while it runs). Reports stored before a
metric existed lack it: its value is None, and None is never the best.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trading.core.errors import ValidationFailed

# How many runs one comparison holds: the page, the API and their messages share these.
COMPARE_RUNS_MIN = 2
COMPARE_RUNS_MAX = 6

# (report metrics key, label, which value is best: "high", "low" or None, display kind)
METRIC_ROWS: tuple[tuple[str, str, str | None, str], ...] = (
    ("return_pct", "Return", "high", "percent"),
    ("cagr_pct", "CAGR", "high", "percent"),
    ("buy_hold_return_pct", "Buy and hold", None, "percent"),
    ("max_drawdown_pct", "Max drawdown", "low", "percent"),
    ("max_drawdown_abs", "Absolute drawdown", "low", "money"),
    ("sharpe", "Sharpe", "high", "ratio"),
    ("sortino", "Sortino", "high", "ratio"),
    ("calmar", "Calmar", "high", "ratio"),
    ("profit_factor", "Profit factor", "high", "ratio"),
    ("trades", "Trades", None, "count"),
    ("win_rate_pct", "Win rate", "high", "percent"),
    ("avg_trade_pct", "Average trade", "high", "percent"),
    ("median_trade_pct", "Median trade", "high", "percent"),
    ("net_profit", "Net profit", "high", "money"),
    ("final_equity", "Final equity", "high", "money"),
    ("fees_paid", "Fees paid", "low", "money"),
    ("exposure_pct", "Time in market", None, "percent"),
    ("trades_per_day", "Trades a day", None, "ratio"),
    ("best_day_pct", "Best day", "high", "percent"),
    ("worst_day_pct", "Worst day", "high", "percent"),
)


def parse_run_ids(raw: str | None) -> list[int]:
    """"1,2,3" as run ids, in that order, each once; ValidationFailed (field "runs") for a
    malformed list or fewer than COMPARE_RUNS_MIN or more than COMPARE_RUNS_MAX runs."""
    terms = [term.strip() for term in (raw or "").split(",") if term.strip()]
    if not all(term.isdigit() and len(term) <= 18 for term in terms):
        raise ValidationFailed("Name the runs to compare by their numbers, separated by "
                               "commas (runs=12,15).", field="runs")
    ids = list(dict.fromkeys(int(term) for term in terms))
    if not COMPARE_RUNS_MIN <= len(ids) <= COMPARE_RUNS_MAX:
        raise ValidationFailed(f"Pick {COMPARE_RUNS_MIN} to {COMPARE_RUNS_MAX} runs to compare "
                               f"(you picked {len(ids)}).", field="runs")
    return ids


def compare_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{"runs": [...], "settings": [...], "metrics": [...], "equity": [...]}: each settings
    and metrics row has one value per run, in the runs' order; a metrics row also says which
    direction is better and which runs hold its best value (none when all are equal)."""
    reports = [run.get("report") or {} for run in runs]
    return {
        "runs": [{"id": run["id"], "strategy": run["strategy"], "symbol": run["symbol"],
                  "timeframe": run["timeframe"], "status": run["status"]} for run in runs],
        "settings": settings_rows(runs, reports),
        "metrics": [_metric_row(key, label, better, kind, reports)
                    for key, label, better, kind in METRIC_ROWS],
        "equity": [{"id": run["id"], "points": equity_returns(report)}
                   for run, report in zip(runs, reports, strict=True)],
    }


def settings_rows(runs: Sequence[Mapping[str, Any]],
                  reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What each run was asked to do, read from its report's resolved settings where it has
    one (the defaults filled in), else from its request."""
    resolved = [report.get("config") or {} for report in reports]
    asked = [run.get("config") or {} for run in runs]

    def row(key: str, label: str, kind: str, values: list[Any]) -> dict[str, Any]:
        return {"key": key, "label": label, "kind": kind, "values": values}

    return [
        row("strategy", "Strategy", "text", [run["strategy"] for run in runs]),
        row("parameters", "Parameters", "mapping",
            [config.get("params") or run.get("parameters") or {}
             for run, config in zip(runs, resolved, strict=True)]),
        row("market", "Market", "text", [f"{run['symbol']} · {run['timeframe']}" for run in runs]),
        row("range", "Range", "range", [_range(report, config)
                                        for report, config in zip(reports, asked, strict=True)]),
        row("data", "Data set", "text", [_data_set(report, config)
                                         for report, config in zip(reports, asked, strict=True)]),
        row("preset", "Preset", "text", [config.get("preset") or request.get("preset")
                                         for config, request in zip(resolved, asked,
                                                                    strict=True)]),
        row("cash", "Starting cash", "money", [_first(config.get("cash"), request.get("cash"))
                                               for config, request in zip(resolved, asked,
                                                                          strict=True)]),
        row("fee", "Fee", "fraction", [_first(config.get("fee"), request.get("fee"))
                                       for config, request in zip(resolved, asked,
                                                                  strict=True)]),
        row("slippage", "Slippage", "fraction",
            [_first(config.get("slippage"), request.get("slippage"))
             for config, request in zip(resolved, asked, strict=True)]),
        row("stake", "Stake", "fraction",
            [_first((config.get("risk") or {}).get("stake_fraction"), request.get("stake"))
             for config, request in zip(resolved, asked, strict=True)]),
    ]


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _range(report: Mapping[str, Any], asked: Mapping[str, Any]) -> dict[str, Any]:
    """The first and last candle the run used (ISO strings), else the range it asked for
    (epoch ms, None for an open end)."""
    period = report.get("period") or {}
    if period.get("start"):
        return {"start": period["start"], "end": period.get("end")}
    return {"start_ms": asked.get("start_ms"), "end_ms": asked.get("end_ms")}


def _data_set(report: Mapping[str, Any], asked: Mapping[str, Any]) -> str:
    data = (report.get("config") or {}).get("data") or {}
    kind = data.get("set") or asked.get("data") or "sample"
    exchange = data.get("exchange") or asked.get("exchange")
    return f"{kind} · {exchange}" if exchange else kind


def _metric_row(key: str, label: str, better: str | None, kind: str,
                reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    values = [_number((report.get("metrics") or {}).get(key)) for report in reports]
    return {"key": key, "label": label, "kind": kind, "better": better, "values": values,
            "best": best_flags(values, better)}


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def best_flags(values: Sequence[float | int | None], better: str | None) -> list[bool]:
    """Which values are the best of the row (ties all marked); none when the row has no
    direction, fewer than two values to compare, or every value is the same."""
    present = [value for value in values if value is not None]
    if better is None or len(present) < 2 or min(present) == max(present):
        return [False] * len(values)
    best = max(present) if better == "high" else min(present)
    return [value is not None and value == best for value in values]


def equity_returns(report: Mapping[str, Any]) -> list[list[float]]:
    """The report's (downsampled) equity curve as [[timestamp_ms, return in percent], ...]
    from the starting cash, so runs with different cash share one axis."""
    start = _number((report.get("metrics") or {}).get("start_equity")) or _number(
        (report.get("config") or {}).get("cash"))
    if not start:
        return []
    return [[stamp, (value / start - 1.0) * 100.0] for stamp, value in report.get("equity") or []]
