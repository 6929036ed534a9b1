"""Every report metric on small hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from trading.core.backtest import metrics
from trading.core.backtest.report import downsample, exit_reason_table, monthly_table
from trading.core.backtest.simulation import DAY_MS, SimulationResult, TradeLog
from trading.core.candles import Candles

HOUR_MS = 3_600_000


def trade_log(pnl, invested=None, entry_index=None, exit_index=None, reason=None,
              is_open=None) -> TradeLog:
    count = len(pnl)
    invested = invested or [100.0] * count
    return TradeLog(
        entry_index=np.array(entry_index or [0] * count, dtype=np.int64),
        exit_index=np.array(exit_index or [1] * count, dtype=np.int64),
        entries=np.ones(count, dtype=np.int64), units=np.ones(count),
        entry_price=np.full(count, 100.0), exit_price=np.full(count, 100.0),
        invested=np.array(invested, dtype=float), fees=np.full(count, 0.5),
        pnl=np.array(pnl, dtype=float), reason=np.array(reason or [1] * count, dtype=np.int8),
        is_open=np.array(is_open or [False] * count))


def candles_at(timestamps, closes) -> Candles:
    close = np.array(closes, dtype=float)
    return Candles(np.array(timestamps, dtype=np.int64), close, close, close, close,
                   np.ones(close.size))


# -- equity-curve metrics -----------------------------------------------------------------

def test_daily_returns_use_each_days_last_close_and_start_from_cash():
    # day 0 closes at 110, day 1 at 99, day 2 at 118.8 (two candles a day)
    timestamps = [0, HOUR_MS, DAY_MS, DAY_MS + HOUR_MS, 2 * DAY_MS, 2 * DAY_MS + HOUR_MS]
    equity = np.array([105, 110, 100, 99, 120, 118.8])
    assert np.allclose(metrics.daily_returns(np.array(timestamps), equity, 100.0),
                       [0.10, -0.10, 0.20])


def test_sharpe_is_mean_over_sample_std_annualised_over_365_days():
    # mean 0.02/3; std(ddof=1) = sqrt(1.26667e-3 / 2) = 0.0251661; x sqrt(365) = 19.10497
    returns = np.array([0.01, -0.02, 0.03])
    assert metrics.sharpe_ratio(returns) == pytest.approx(5.06103, rel=1e-5)


def test_sortino_divides_by_the_downside_deviation():
    # downside deviation = sqrt((0 + 0.02^2 + 0) / 3) = 0.0115470
    returns = np.array([0.01, -0.02, 0.03])
    assert metrics.sortino_ratio(returns) == pytest.approx(11.03026, rel=1e-5)


def test_ratios_are_none_when_undefined():
    assert metrics.sharpe_ratio(np.array([0.01])) is None
    assert metrics.sharpe_ratio(np.array([0.01, 0.01])) is None  # no volatility
    assert metrics.sortino_ratio(np.array([0.01, 0.02])) is None  # no downside


def test_cagr_compounds_over_the_span():
    two_years = 2 * 365 * DAY_MS
    assert metrics.cagr_pct(100.0, 121.0, two_years) == pytest.approx(10.0)
    assert metrics.cagr_pct(100.0, 0.0, two_years) == -100.0
    assert metrics.cagr_pct(100.0, 121.0, 0) is None


def test_max_drawdown_is_the_deepest_fall_from_a_running_peak():
    # peaks 100 120 120 130 130: the fall from 130 to 65 is 50 %
    assert metrics.max_drawdown_pct(np.array([100, 120, 90, 130, 65.0]), 100.0) == 50.0


def test_max_drawdown_counts_the_starting_cash_as_a_peak():
    assert metrics.max_drawdown_pct(np.array([80.0, 90.0]), 100.0) == pytest.approx(20.0)
    assert metrics.max_drawdown_pct(np.array([100.0, 110.0]), 100.0) == 0.0


def test_longest_drawdown_runs_from_the_peak_to_the_recovery_or_the_end():
    equity = np.array([100, 120, 110, 105, 125, 120, 119, 118, 117.0])
    # under water at 2-3 (peak 1, recovered at 4) and 5-8 (peak 4, never recovered)
    assert metrics.longest_drawdown(equity, 100.0) == (4, 8)
    assert metrics.longest_drawdown(np.array([100, 101.0]), 100.0) == (0, 0)


def test_longest_streak_counts_consecutive_trues():
    assert metrics.longest_streak(np.array([True, False, True, True, True, False])) == 3
    assert metrics.longest_streak(np.array([], dtype=bool)) == 0


def test_equity_metrics_on_a_two_day_curve():
    # daily candles; equity 1000 -> 1100 -> 990 -> 1188; closes 50 -> 75
    candles = candles_at([0, DAY_MS, 2 * DAY_MS, 3 * DAY_MS], [50, 55, 60, 75])
    result = SimulationResult(np.array([1100.0, 990.0, 1188.0, 1188.0]), trade_log([]),
                              exposure_candles=3, pause_index=-1)
    values = metrics.equity_metrics(candles, result, 1000.0)
    assert values["final_equity"] == 1188.0
    assert values["return_pct"] == pytest.approx(18.8)
    assert values["buy_hold_return_pct"] == pytest.approx(50.0)
    assert values["max_drawdown_pct"] == pytest.approx(10.0)  # 1100 -> 990
    assert values["max_drawdown_duration_candles"] == 2  # peak at 0, recovered at 2
    assert values["max_drawdown_duration_days"] == pytest.approx(2.0)
    assert values["exposure_pct"] == pytest.approx(75.0)
    assert values["days"] == pytest.approx(4.0)  # three gaps plus the last candle
    # daily returns +10 %, -10 %, +20 %, 0 %: mean 5 % a day
    assert values["annualised_return_pct"] == pytest.approx(5.0 * 365)
    cagr = (1.188 ** (365 / 4) - 1) * 100
    assert values["cagr_pct"] == pytest.approx(cagr)
    assert values["calmar"] == pytest.approx(cagr / 10.0)


# -- trade metrics ------------------------------------------------------------------------

def test_trade_metrics_on_hand_made_trades():
    # W L W L L D, 100 invested each; trade i lasts i hours
    trades = trade_log([10, -5, 20, -5, -5, 0], entry_index=[0] * 6,
                       exit_index=[0, 1, 2, 3, 4, 5])
    timestamps = np.arange(6, dtype=np.int64) * HOUR_MS
    values = metrics.trade_metrics(trades, timestamps)
    assert (values["trades"], values["wins"], values["losses"], values["draws"]) == (6, 2, 3, 1)
    assert values["win_rate_pct"] == pytest.approx(100 * 2 / 6)
    assert (values["gross_profit"], values["gross_loss"]) == (30.0, 15.0)
    assert values["profit_factor"] == pytest.approx(2.0)
    assert values["expectancy"] == pytest.approx(15 / 6)
    # (1 + average win 15 / average loss 5) * win rate 1/3 - 1
    assert values["expectancy_ratio"] == pytest.approx(1 / 3)
    assert (values["best_trade_pct"], values["worst_trade_pct"]) == (20.0, -5.0)
    assert values["avg_trade_pct"] == pytest.approx(2.5)
    assert values["avg_trade_duration_hours"] == pytest.approx(2.5)
    assert (values["max_consecutive_wins"], values["max_consecutive_losses"]) == (1, 2)


def test_trade_metrics_without_losses_or_trades_have_no_ratio():
    wins_only = metrics.trade_metrics(trade_log([5.0, 7.0]), np.arange(2, dtype=np.int64))
    assert wins_only["profit_factor"] is None
    assert wins_only["expectancy_ratio"] is None
    empty = metrics.trade_metrics(trade_log([]), np.arange(2, dtype=np.int64))
    assert empty["trades"] == 0
    assert empty["win_rate_pct"] is None


def test_all_metrics_leave_the_open_trade_out_of_the_count_but_not_the_fees():
    trades = trade_log([10.0, 4.0], is_open=[False, True])
    candles = candles_at([0, HOUR_MS], [1.0, 1.0])
    result = SimulationResult(np.array([1000.0, 1014.0]), trades, 1, -1)
    values = metrics.all_metrics(candles, result, 1000.0)
    assert values["trades"] == 1
    assert values["open_trade_pnl"] == 4.0
    assert values["fees_paid"] == 1.0


# -- report tables ------------------------------------------------------------------------

def test_exit_reason_table_groups_closed_trades():
    trades = trade_log([10, -5, -3], reason=[1, 2, 2])
    table = {row["reason"]: row for row in exit_reason_table(trades)}
    assert table["signal"]["trades"] == 1
    assert table["stop_loss"] | {"avg_pnl_pct": 0} == {
        "reason": "stop_loss", "trades": 2, "wins": 0, "losses": 2, "win_rate_pct": 0.0,
        "pnl": -8.0, "avg_pnl_pct": 0}
    assert table["stop_loss"]["avg_pnl_pct"] == pytest.approx(-4.0)


def test_monthly_table_chains_month_end_equity_and_counts_exits():
    jan31, feb1, feb2 = 1_706_659_200_000, 1_706_745_600_000, 1_706_832_000_000
    candles = candles_at([jan31, feb1, feb2], [1.0, 1.0, 1.0])
    trades = trade_log([20.0, -10.0], entry_index=[0, 1], exit_index=[0, 2])
    result = SimulationResult(np.array([1020.0, 1030.0, 1010.0]), trades, 0, -1)
    rows = monthly_table(candles, result, 1000.0)
    assert [row["month"] for row in rows] == ["2024-01", "2024-02"]
    assert (rows[0]["start_equity"], rows[0]["end_equity"], rows[0]["trades"]) == (1000, 1020, 1)
    assert rows[0]["return_pct"] == pytest.approx(2.0)
    assert (rows[1]["start_equity"], rows[1]["end_equity"]) == (1020.0, 1010.0)
    assert (rows[1]["trades"], rows[1]["pnl"], rows[1]["wins"]) == (1, -10.0, 0)


@pytest.mark.parametrize("step_ms", [60_000, 3 * HOUR_MS, DAY_MS, 7 * DAY_MS])
def test_monthly_table_equals_months_taken_candle_by_candle(step_ms):
    # The table converts only each day's last candle to a month; over irregular candles of
    # any length it must agree with converting every candle.
    rng = np.random.default_rng(step_ms)
    gaps = rng.choice([1, 1, 1, 2, 5], size=3000) * step_ms
    timestamps = 1_704_067_200_000 + np.cumsum(gaps)
    candles = candles_at(timestamps, np.ones(3000))
    exits = np.sort(rng.choice(3000, size=40, replace=False))
    trades = trade_log(rng.normal(size=40).tolist(), entry_index=exits.tolist(),
                       exit_index=exits.tolist())
    equity = 1000.0 + np.cumsum(rng.normal(size=3000))
    rows = monthly_table(candles, SimulationResult(equity, trades, 0, -1), 1000.0)

    months = timestamps.astype("datetime64[ms]").astype("datetime64[M]")
    ends = np.append(np.flatnonzero(months[1:] != months[:-1]), 2999)
    assert [row["month"] for row in rows] == [str(month) for month in months[ends]]
    assert [row["end_equity"] for row in rows] == equity[ends].tolist()
    exit_months = months[exits]
    assert [row["trades"] for row in rows] == [int((exit_months == month).sum())
                                              for month in months[ends]]


def test_downsample_bounds_the_curve_and_keeps_its_extremes():
    values = np.sin(np.linspace(0, 50, 1_000_000)) + np.linspace(0, 1, 1_000_000)
    values[123_457] = -5.0  # one deep dip must survive
    points = downsample(np.arange(values.size, dtype=np.int64), values, 500)
    assert len(points) <= 502
    kept = [value for _, value in points]
    assert min(kept) == -5.0 and max(kept) == values.max()
    assert points[0] == [0, values[0]] and points[-1] == [999_999, values[-1]]
    assert [stamp for stamp, _ in points] == sorted(stamp for stamp, _ in points)


def test_downsample_keeps_short_curves_whole():
    assert downsample(np.array([5, 6]), np.array([1.0, 2.0]), 100) == [[5, 1.0], [6, 2.0]]
