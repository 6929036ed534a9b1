"""Performance metrics from an equity curve and a trade log (pure NumPy, JSON-ready numbers).

Conventions: percentages are in percent; a ratio that is undefined (no losing trade, flat
equity, too little data) is None rather than infinity, which JSON cannot carry. A year is
365 days because crypto trades every day.

Sharpe, Sortino and the annualised return come from the returns of each *return period*: a
UTC day, or one candle when candles are longer than a day (weekly, monthly). They are
annualised by the number of such periods in a year (365 for days, about 12 for monthly
candles); scaling monthly returns by √365 would overstate a monthly Sharpe about 5.5 times.
`trade_sharpe` is freqtrade's trade-based Sharpe, reported beside it for comparison;
`metric_definitions` says in words which definitions a report used.
"""
from __future__ import annotations

import math

import numpy as np

from trading.core.backtest.simulation import DAY_MS, SimulationResult, TradeLog
from trading.core.candles import Candles

DAYS_PER_YEAR = 365
YEAR_MS = DAYS_PER_YEAR * DAY_MS


def finite(value: float) -> float | None:
    """A plain float, or None for NaN/inf (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def iso_times(timestamps: np.ndarray) -> list[str]:
    """ISO-8601 UTC strings ("2024-01-01T00:00:00Z") for epoch-ms timestamps, vectorised."""
    moments = np.asarray(timestamps, dtype=np.int64).astype("datetime64[ms]")
    return np.datetime_as_string(moments, unit="s", timezone="UTC").tolist()


def median_candle_gap_ms(timestamps: np.ndarray) -> int:
    """The candle length: the median gap between timestamps (0 for a single candle)."""
    if timestamps.shape[0] < 2:
        return 0
    gaps = np.diff(timestamps)
    if gaps.min() == gaps.max():  # no gap in the data (the usual case): skip the median's sort
        return int(gaps[0])
    return int(np.median(gaps))


def period_ends(keys: np.ndarray) -> np.ndarray:
    """Index of the last candle of each run of equal keys (days, months) in sorted keys."""
    return np.append(np.flatnonzero(keys[1:] != keys[:-1]), keys.shape[0] - 1)


def span_ms(timestamps: np.ndarray) -> int:
    """Time the candles cover: first open to last close (one candle longer than the gaps)."""
    return int(timestamps[-1] - timestamps[0]) + median_candle_gap_ms(timestamps)


def return_period_ms(timestamps: np.ndarray) -> float:
    """The period one return covers: a UTC day, or for candles longer than a day the average
    gap between candles (calendar months average 30.4 days, where their median is 31)."""
    if median_candle_gap_ms(timestamps) <= DAY_MS:
        return float(DAY_MS)
    return float(timestamps[-1] - timestamps[0]) / (timestamps.shape[0] - 1)


def daily_returns(timestamps: np.ndarray, equity: np.ndarray, start_equity: float) -> np.ndarray:
    """Return of each UTC day, from the equity at its last close (the first day from cash)."""
    closes = equity[period_ends(timestamps // DAY_MS)]
    previous = np.concatenate(([start_equity], closes[:-1]))
    return closes / previous - 1.0


def sharpe_ratio(returns: np.ndarray, periods_per_year: float = DAYS_PER_YEAR) -> float | None:
    """mean / sample standard deviation × √periods (risk-free rate 0); None if undefined."""
    if returns.shape[0] < 2:
        return None
    deviation = float(np.std(returns, ddof=1))
    if deviation == 0.0:
        return None
    return finite(np.mean(returns) / deviation * math.sqrt(periods_per_year))


def sortino_ratio(returns: np.ndarray, periods_per_year: float = DAYS_PER_YEAR) -> float | None:
    """mean / downside deviation × √periods, downside deviation = √mean(min(r, 0)²)."""
    if returns.shape[0] < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return finite(np.mean(returns) / downside * math.sqrt(periods_per_year))


def trade_sharpe(trades: TradeLog, start_equity: float, span: int) -> float | None:
    """freqtrade's trade-based Sharpe: each closed trade's P&L over the starting equity; their
    sum spread over the days of the run (at least one) is the mean daily return, divided by
    the population standard deviation of the per-trade returns and scaled by √365. None
    where freqtrade would give its -100 placeholder (no trades, no spread, no span)."""
    if len(trades) == 0 or span <= 0 or start_equity <= 0:
        return None
    per_trade = trades.pnl / start_equity
    deviation = float(np.std(per_trade))
    if deviation == 0.0:
        return None
    days = max(1, span // DAY_MS)
    return finite(per_trade.sum() / days / deviation * math.sqrt(DAYS_PER_YEAR))


def metric_definitions(period_ms: float) -> dict[str, str]:
    """The definitions behind a report's Sharpe, Sortino and annualised return, in words."""
    daily = period_ms == DAY_MS
    periods = YEAR_MS / period_ms
    period = "1 UTC day" if daily else f"one candle, {period_ms / DAY_MS:.1f} days on average"
    returns = "daily returns" if daily else "per-candle returns"
    scale = "√365" if daily else f"√{periods:.1f} (candles a year)"
    return {
        "return_period": period,
        "sharpe": f"Mean over sample standard deviation of {returns}, × {scale}; "
                  "risk-free rate 0.",
        "sortino": f"Mean over downside deviation of {returns}, × {scale}; downside "
                   "deviation = √mean(min(return, 0)²).",
        "annualised_return": f"Mean of {returns} × {'365' if daily else f'{periods:.1f}'}.",
        "sharpe_trades": "As freqtrade computes it: the profit of each closed trade over the "
                         "starting equity; their sum divided by the days of the run, over "
                         "the population standard deviation of these per-trade returns, "
                         "× √365.",
        "days": "Best and worst day, winning, losing and draw days: the change of equity "
                f"over each {'UTC day' if daily else 'candle'} (open positions at their "
                "close), so a flat day without a position is a draw.",
        "balance": "Min and max balance, as freqtrade: the starting cash plus the running "
                   "sum of closed trades' profit, after each trade.",
        "drawdown_abs": "Absolute drawdown: the largest fall of equity in money from a "
                        "running peak; it starts at that peak and ends at the trough.",
    }


def cagr_pct(start_equity: float, final_equity: float, span_ms: int) -> float | None:
    """Compound annual growth rate over `span_ms`, in percent; None for an empty span."""
    if span_ms <= 0 or start_equity <= 0:
        return None
    if final_equity <= 0:
        return -100.0
    return finite(((final_equity / start_equity) ** (YEAR_MS / span_ms) - 1.0) * 100.0)


def max_drawdown_pct(equity: np.ndarray, start_equity: float) -> float:
    """Deepest fall of equity below its running peak, in percent (0 if it never falls).

    The starting cash counts as the first peak, so losing from the first candle is a drawdown.
    """
    peaks = np.maximum.accumulate(np.maximum(equity, start_equity))
    return float(np.max(1.0 - equity / peaks) * 100.0)


def longest_drawdown(equity: np.ndarray, start_equity: float) -> tuple[int, int]:
    """(first, last) candle of the longest stretch below a previous peak; last is the candle
    that recovered the peak, or the final candle. (0, 0) when equity never falls.
    """
    peaks = np.maximum.accumulate(np.maximum(equity, start_equity))
    under = np.concatenate(([False], equity < peaks, [False]))
    edges = np.flatnonzero(under[1:] != under[:-1])
    if edges.shape[0] == 0:
        return 0, 0
    starts, ends = edges[0::2], edges[1::2]  # [start, end) of each underwater run
    longest = int(np.argmax(ends - starts))
    first = max(int(starts[longest]) - 1, 0)  # the peak candle before the fall
    return first, min(int(ends[longest]), equity.shape[0] - 1)


def longest_streak(flags: np.ndarray) -> int:
    """Length of the longest run of True."""
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return int((edges[1::2] - edges[0::2]).max(initial=0))


def pnl_pct(trades: TradeLog) -> np.ndarray:
    """Each trade's P&L as a percentage of the money it put in (fees included)."""
    return trades.pnl / trades.invested * 100.0


def holding_hours(trades: TradeLog, timestamps: np.ndarray) -> np.ndarray:
    """How long each trade was held, in hours: entry candle's open to exit candle's open."""
    return (timestamps[trades.exit_index] - timestamps[trades.entry_index]) / 3_600_000


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.shape[0] else None


def absolute_drawdown(timestamps: np.ndarray, equity: np.ndarray,
                      start_equity: float) -> dict[str, float | str | None]:
    """freqtrade's absolute drawdown: the largest fall of equity in money from a running peak
    (the starting cash is the first peak), with the peak (high), the trough (low) and when
    each was (drawdown_start, drawdown_end). Zero with no times when equity never falls."""
    peaks = np.maximum.accumulate(np.maximum(equity, start_equity))
    falls = peaks - equity
    trough = int(np.argmax(falls))
    depth = float(falls[trough])
    if not depth > 0:
        return {"max_drawdown_abs": 0.0, "max_drawdown_high": None, "max_drawdown_low": None,
                "drawdown_start": None, "drawdown_end": None}
    high = float(peaks[trough])
    reached = np.flatnonzero(equity[:trough + 1] >= high)
    peak = int(reached[-1]) if reached.shape[0] else 0  # 0: the peak was the starting cash
    start, end = iso_times(timestamps[[peak, trough]])
    return {"max_drawdown_abs": depth, "max_drawdown_high": high,
            "max_drawdown_low": float(equity[trough]), "drawdown_start": start,
            "drawdown_end": end}


def day_metrics(returns: np.ndarray) -> dict[str, float | int | None]:
    """Best and worst day and how many days won, lost or stayed flat, from the equity's
    return over each day (each candle, for candles longer than a day)."""
    count = returns.shape[0]
    return {"best_day_pct": finite(returns.max() * 100.0) if count else None,
            "worst_day_pct": finite(returns.min() * 100.0) if count else None,
            "winning_days": int((returns > 0).sum()), "losing_days": int((returns < 0).sum()),
            "draw_days": int((returns == 0).sum())}


def balance_range(trades: TradeLog, start_equity: float) -> tuple[float | None, float | None]:
    """freqtrade's min and max balance: the starting cash plus the running sum of closed
    trades' P&L, lowest and highest after any trade; None without trades."""
    if len(trades) == 0:
        return None, None
    running = start_equity + np.cumsum(trades.pnl)
    return float(running.min()), float(running.max())


def stake_metrics(trades: TradeLog, timestamps: np.ndarray,
                  start_equity: float) -> dict[str, float | None]:
    """Median trade, average stake, volume traded, trades a day, holding time of winners and
    losers, min and max balance: the rest of freqtrade's summary, for closed trades."""
    count = len(trades)
    hours = holding_hours(trades, timestamps)
    days = span_ms(timestamps) / DAY_MS
    balance_min, balance_max = balance_range(trades, start_equity)
    return {
        "median_trade_pct": float(np.median(pnl_pct(trades))) if count else None,
        "median_trade_pnl": float(np.median(trades.pnl)) if count else None,
        "avg_stake": _mean_or_none(trades.invested),
        # bought and sold value, fees not included
        "total_volume": float((trades.units * (trades.entry_price + trades.exit_price)).sum()),
        "trades_per_day": count / days if days > 0 else None,
        "winner_holding_avg_hours": _mean_or_none(hours[trades.pnl > 0]),
        "loser_holding_avg_hours": _mean_or_none(hours[trades.pnl < 0]),
        "balance_min": balance_min, "balance_max": balance_max,
    }


def trade_metrics(trades: TradeLog, timestamps: np.ndarray) -> dict[str, float | int | None]:
    """Win rate, profit factor, expectancy, best/worst, durations, streaks of closed trades."""
    count = len(trades)
    pnl = trades.pnl
    wins, losses = pnl > 0, pnl < 0
    gross_profit, gross_loss = float(pnl[wins].sum()), float(-pnl[losses].sum())
    percents = pnl_pct(trades)
    hours = holding_hours(trades, timestamps)
    return {
        "trades": count, "wins": int(wins.sum()), "losses": int(losses.sum()),
        "draws": int(count - wins.sum() - losses.sum()),
        "win_rate_pct": float(wins.mean() * 100.0) if count else None,
        "gross_profit": gross_profit, "gross_loss": gross_loss,
        "net_profit": float(pnl.sum()),
        "profit_factor": finite(gross_profit / gross_loss) if gross_loss > 0 else None,
        "expectancy": float(pnl.mean()) if count else None,
        "expectancy_ratio": _expectancy_ratio(pnl),
        "avg_trade_pct": float(percents.mean()) if count else None,
        "best_trade_pct": float(percents.max()) if count else None,
        "worst_trade_pct": float(percents.min()) if count else None,
        "avg_trade_duration_hours": float(hours.mean()) if count else None,
        "max_consecutive_wins": longest_streak(wins),
        "max_consecutive_losses": longest_streak(losses),
    }


def _expectancy_ratio(pnl: np.ndarray) -> float | None:
    """freqtrade's expectancy ratio: (1 + average win / average loss) × win rate − 1."""
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if losses.shape[0] == 0:
        return None
    average_win = float(wins.mean()) if wins.shape[0] else 0.0
    win_rate = wins.shape[0] / pnl.shape[0]
    return finite((1.0 + average_win / -float(losses.mean())) * win_rate - 1.0)


def equity_metrics(candles: Candles, result: SimulationResult,
                   start_equity: float) -> dict[str, float | int | None]:
    """Returns, drawdown, risk-adjusted ratios, exposure and buy-and-hold from the equity."""
    timestamps, equity = candles.timestamp, result.equity
    final = float(equity[-1])
    span = span_ms(timestamps)
    # Grouping by UTC day leaves one candle per group when candles are longer than a day.
    returns = daily_returns(timestamps, equity, start_equity)
    periods = YEAR_MS / return_period_ms(timestamps)
    drawdown = max_drawdown_pct(equity, start_equity)
    first, last = longest_drawdown(equity, start_equity)
    cagr = cagr_pct(start_equity, final, span)
    return {
        "start_equity": start_equity, "final_equity": final,
        "return_pct": (final / start_equity - 1.0) * 100.0,
        "annualised_return_pct": finite(np.mean(returns) * periods * 100.0),
        "cagr_pct": cagr,
        "buy_hold_return_pct": finite((candles.close[-1] / candles.close[0] - 1.0) * 100.0),
        "max_drawdown_pct": drawdown,
        "max_drawdown_duration_candles": last - first,
        "max_drawdown_duration_days": float(timestamps[last] - timestamps[first]) / DAY_MS,
        "sharpe": sharpe_ratio(returns, periods), "sortino": sortino_ratio(returns, periods),
        "return_period_days": return_period_ms(timestamps) / DAY_MS, "periods_per_year": periods,
        "calmar": finite(cagr / drawdown) if cagr is not None and drawdown > 0 else None,
        "exposure_pct": result.exposure_candles / len(candles) * 100.0,
        "days": span / DAY_MS, "candles": len(candles),
        **absolute_drawdown(timestamps, equity, start_equity),
        **day_metrics(returns),
    }


def all_metrics(candles: Candles, result: SimulationResult,
                start_equity: float) -> dict[str, float | int | None]:
    """Every headline metric; trade metrics count closed trades only (not the open one)."""
    # Zero prices or a wiped-out account divide by zero; finite() turns those into None.
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = equity_metrics(candles, result, start_equity)
        metrics.update(trade_metrics(result.trades.closed(), candles.timestamp))
        metrics.update(stake_metrics(result.trades.closed(), candles.timestamp, start_equity))
        metrics["sharpe_trades"] = trade_sharpe(result.trades.closed(), start_equity,
                                                span_ms(candles.timestamp))
    metrics["fees_paid"] = float(result.trades.fees.sum())
    open_pnl = result.trades.pnl[result.trades.is_open]
    metrics["open_trade_pnl"] = float(open_pnl[0]) if open_pnl.shape[0] else None
    return metrics
