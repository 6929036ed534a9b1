"""The backtest report as plain-text tables, for the CLI (and anything else that prints)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# (metric key, label, format): "money", "pct", "ratio", "int", "hours", "days".
METRIC_ROWS = (
    ("trades", "Trades (closed)", "int"),
    ("win_rate_pct", "Win rate", "pct"),
    ("start_equity", "Starting equity", "money"),
    ("final_equity", "Final equity", "money"),
    ("return_pct", "Total return", "pct"),
    ("annualised_return_pct", "Annualised return", "pct"),
    ("cagr_pct", "CAGR", "pct"),
    ("buy_hold_return_pct", "Buy & hold return", "pct"),
    ("max_drawdown_pct", "Max drawdown", "pct"),
    ("max_drawdown_duration_days", "Longest drawdown", "days"),
    ("sharpe", "Sharpe", "ratio"),
    ("sharpe_trades", "Sharpe (trades, as freqtrade)", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy", "Expectancy per trade", "money"),
    ("expectancy_ratio", "Expectancy ratio", "ratio"),
    ("exposure_pct", "Exposure", "pct"),
    ("best_trade_pct", "Best trade", "pct"),
    ("worst_trade_pct", "Worst trade", "pct"),
    ("avg_trade_duration_hours", "Average trade duration", "hours"),
    ("max_consecutive_wins", "Max consecutive wins", "int"),
    ("max_consecutive_losses", "Max consecutive losses", "int"),
    ("fees_paid", "Fees paid", "money"),
    ("open_trade_pnl", "Open trade P&L (unrealised)", "money"),
)
LAST_TRADES = 10


def fmt(value: Any, kind: str) -> str:
    """One value as the table shows it; "-" for a missing one."""
    if value is None:
        return "-"
    formats = {"money": "{:,.2f}", "pct": "{:.2f} %", "ratio": "{:.2f}", "int": "{:d}",
               "hours": "{:.1f} h", "days": "{:.1f} d", "price": "{:,.6g}", "amount": "{:.6g}"}
    return formats.get(kind, "{}").format(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the rest right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                          strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
                 for index, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def render_text(report: dict[str, Any]) -> str:
    """The whole report: headline, metrics, exit reasons, months, last trades, lookahead."""
    sections = [_headline(report), _metrics(report["metrics"]), _definitions(report),
                _exit_reasons(report), _monthly(report), _trades(report), _lookahead(report)]
    return "\n\n".join(section for section in sections if section) + "\n"


def _headline(report: dict[str, Any]) -> str:
    config, period = report["config"], report["period"]
    params = " ".join(f"{name}={value}" for name, value in config["params"].items())
    line = (f"Backtest {config['strategy']} {params} | preset {config['preset'] or 'none'} | "
            f"fee {config['fee']:g} slippage {config['slippage']:g}\n"
            f"{period['start']} -> {period['end']} ({period['candles']:,} candles)")
    if report.get("pause"):
        line += f"\nPaused by max drawdown at {report['pause']['time']}"
    return line


def _metrics(metrics: dict[str, Any]) -> str:
    rows = [(label, fmt(metrics.get(key), kind)) for key, label, kind in METRIC_ROWS]
    return table(("Metric", "Value"), rows)


DEFINITION_LABELS = (("return_period", "Return period"), ("sharpe", "Sharpe"),
                     ("sortino", "Sortino"), ("annualised_return", "Annualised return"),
                     ("sharpe_trades", "Sharpe (trades)"))


def _definitions(report: dict[str, Any]) -> str:
    definitions = report.get("definitions")  # reports stored before it existed have none
    if not definitions:
        return ""
    return "\n".join(f"{label}: {definitions[key]}" for key, label in DEFINITION_LABELS
                     if key in definitions)


def _exit_reasons(report: dict[str, Any]) -> str:
    rows = [(row["reason"], fmt(row["trades"], "int"), fmt(row["wins"], "int"),
             fmt(row["win_rate_pct"], "pct"), fmt(row["pnl"], "money"),
             fmt(row["avg_pnl_pct"], "pct")) for row in report["exit_reasons"]]
    if not rows:
        return "No closed trades."
    return table(("Exit reason", "Trades", "Wins", "Win rate", "P&L", "Avg P&L"), rows)


def _monthly(report: dict[str, Any]) -> str:
    rows = [(row["month"], fmt(row["start_equity"], "money"), fmt(row["end_equity"], "money"),
             fmt(row["return_pct"], "pct"), fmt(row["trades"], "int"), fmt(row["pnl"], "money"))
            for row in report["monthly"]]
    return table(("Month", "Start equity", "End equity", "Return", "Trades", "P&L"), rows)


def _trades(report: dict[str, Any]) -> str:
    trades = report["trades"]
    if not trades:
        return ""
    shown = trades[-LAST_TRADES:]
    rows = [(trade["entry_time"], trade["exit_time"], fmt(trade["entry_price"], "price"),
             fmt(trade["exit_price"], "price"), fmt(trade["amount"], "amount"),
             fmt(trade["pnl"], "money"), fmt(trade["pnl_pct"], "pct"),
             "open" if trade["open"] else trade["exit_reason"]) for trade in shown]
    title = f"Last {len(shown)} of {len(trades)} trades"
    return title + "\n" + table(("Entry", "Exit", "Entry price", "Exit price", "Amount", "P&L",
                                 "P&L %", "Exit"), rows)


def _lookahead(report: dict[str, Any]) -> str:
    lookahead = report.get("lookahead")
    return f"Lookahead check: {lookahead['message']}" if lookahead else ""
