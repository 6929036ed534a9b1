"""freqtrade's report figures on small hand-computed cases: absolute drawdown, balances,
median trade, stake and volume, trades a day, days, holding times, and the per-pair, daily
and drawdown-period tables."""
from __future__ import annotations

import json

import numpy as np
import pytest

from trading.core.backtest import metrics
from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.report import (
    build_report,
    daily_table,
    drawdown_periods,
    pair_table,
)
from trading.core.backtest.simulation import DAY_MS, SimulationResult

from .test_backtest_metrics import HOUR_MS, candles_at, trade_log

JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def test_absolute_drawdown_is_the_largest_fall_in_money_with_its_peak_and_trough():
    # peaks 1000 1200 1200 1500 1500: falls 0 0 300 0 400; the 400 from 1500 is the largest
    # in money (26.7 %), though 1200 -> 900 is 25 %
    timestamps = np.array([JAN1 + index * HOUR_MS for index in range(5)])
    equity = np.array([1000.0, 1200.0, 900.0, 1500.0, 1100.0])
    values = metrics.absolute_drawdown(timestamps, equity, 1000.0)
    assert values == {"max_drawdown_abs": 400.0, "max_drawdown_high": 1500.0,
                      "max_drawdown_low": 1100.0, "drawdown_start": "2024-01-01T03:00:00Z",
                      "drawdown_end": "2024-01-01T04:00:00Z"}


def test_absolute_drawdown_from_the_starting_cash_starts_at_the_first_candle():
    timestamps = np.array([JAN1, JAN1 + HOUR_MS])
    values = metrics.absolute_drawdown(timestamps, np.array([950.0, 990.0]), 1000.0)
    assert (values["max_drawdown_abs"], values["max_drawdown_high"]) == (50.0, 1000.0)
    assert values["drawdown_start"] == values["drawdown_end"] == "2024-01-01T00:00:00Z"


def test_absolute_drawdown_is_zero_without_times_when_equity_never_falls():
    values = metrics.absolute_drawdown(np.array([0, HOUR_MS]), np.array([1000.0, 1100.0]),
                                       1000.0)
    assert values["max_drawdown_abs"] == 0.0
    assert values["drawdown_start"] is None and values["max_drawdown_low"] is None


def test_day_metrics_count_winning_losing_and_flat_days():
    returns = np.array([0.02, -0.01, 0.0, 0.05, 0.0, -0.03])
    assert metrics.day_metrics(returns) == {
        "best_day_pct": pytest.approx(5.0), "worst_day_pct": pytest.approx(-3.0),
        "winning_days": 2, "losing_days": 2, "draw_days": 2}
    assert metrics.day_metrics(np.array([]))["best_day_pct"] is None


def test_balance_range_follows_the_running_sum_of_closed_trades():
    # 1000 + 10 = 1010, - 30 = 980, + 50 = 1030
    assert metrics.balance_range(trade_log([10.0, -30.0, 50.0]), 1000.0) == (980.0, 1030.0)
    assert metrics.balance_range(trade_log([]), 1000.0) == (None, None)


def test_stake_metrics_on_hand_made_trades():
    # four trades over 48 hourly candles (2 days): invested 100, 200, 100, 400;
    # P&L +10 (10 %), -20 (-10 %), +5 (5 %), -4 (-1 %); held 2, 4, 6 and 1 hours
    timestamps = np.arange(48, dtype=np.int64) * HOUR_MS
    trades = trade_log([10.0, -20.0, 5.0, -4.0], invested=[100.0, 200.0, 100.0, 400.0],
                       entry_index=[0, 2, 10, 20], exit_index=[2, 6, 16, 21])
    trades.units[:] = [1.0, 2.0, 1.0, 4.0]
    trades.entry_price[:] = 100.0
    trades.exit_price[:] = [110.0, 90.0, 105.0, 99.0]
    values = metrics.stake_metrics(trades, timestamps, 1000.0)
    assert values["median_trade_pct"] == pytest.approx((5.0 + -1.0) / 2)
    assert values["median_trade_pnl"] == pytest.approx((5.0 + -4.0) / 2)
    assert values["avg_stake"] == pytest.approx(200.0)
    # bought 100 + 200 + 100 + 400, sold 110 + 180 + 105 + 396
    assert values["total_volume"] == pytest.approx(800.0 + 791.0)
    assert values["trades_per_day"] == pytest.approx(2.0)
    assert values["winner_holding_avg_hours"] == pytest.approx((2 + 6) / 2)
    assert values["loser_holding_avg_hours"] == pytest.approx((4 + 1) / 2)
    assert (values["balance_min"], values["balance_max"]) == (990.0, 1010.0)


def test_stake_metrics_without_trades_are_none_or_zero():
    values = metrics.stake_metrics(trade_log([]), np.arange(3, dtype=np.int64) * HOUR_MS,
                                   1000.0)
    assert values["median_trade_pct"] is None and values["avg_stake"] is None
    assert values["winner_holding_avg_hours"] is None
    assert (values["total_volume"], values["trades_per_day"]) == (0.0, 0.0)


def test_all_metrics_carry_the_day_and_drawdown_figures():
    # daily candles: equity 1000 -> 1100 -> 990 -> 990: days +10 %, -10 %, 0 %
    candles = candles_at([JAN1, JAN1 + DAY_MS, JAN1 + 2 * DAY_MS], [1.0, 1.0, 1.0])
    # (trade_log([]) makes a float is_open column that closed() cannot invert)
    result = SimulationResult(np.array([1100.0, 990.0, 990.0]), trade_log([0.0]), 0, -1)
    values = metrics.all_metrics(candles, result, 1000.0)
    assert (values["best_day_pct"], values["worst_day_pct"]) == (
        pytest.approx(10.0), pytest.approx(-10.0))
    assert (values["winning_days"], values["losing_days"], values["draw_days"]) == (1, 1, 1)
    assert values["max_drawdown_abs"] == pytest.approx(110.0)
    assert (values["drawdown_start"], values["drawdown_end"]) == (
        "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")


def test_daily_table_chains_day_end_equity_and_counts_exits():
    # two candles on Jan 1, none on Jan 2, one on Jan 3
    timestamps = [JAN1, JAN1 + 12 * HOUR_MS, JAN1 + 2 * DAY_MS]
    candles = candles_at(timestamps, [1.0, 1.0, 1.0])
    trades = trade_log([20.0, -5.0, 8.0], entry_index=[0, 0, 1], exit_index=[0, 1, 2],
                       is_open=[False, False, True])
    result = SimulationResult(np.array([1020.0, 1015.0, 1030.0]), trades, 0, -1)
    rows = daily_table(candles, result, 1000.0)
    assert rows == [
        {"day": "2024-01-01", "start_equity": 1000.0, "end_equity": 1015.0,
         "return_pct": pytest.approx(1.5), "trades": 2, "wins": 1, "pnl": 15.0},
        {"day": "2024-01-03", "start_equity": 1015.0, "end_equity": 1030.0,
         "return_pct": pytest.approx(100 * 15 / 1015), "trades": 0, "wins": 0, "pnl": 0.0},
    ]


def test_pair_table_sums_closed_trades_like_freqtrade():
    # three trades of 100: +10 %, -5 %, 0 %; held 1, 3 and 2 hours
    timestamps = np.arange(6, dtype=np.int64) * HOUR_MS
    trades = trade_log([10.0, -5.0, 0.0], entry_index=[0, 1, 3], exit_index=[1, 4, 5])
    (row,) = pair_table(trades, timestamps, 1000.0, "BTC/USDT")
    assert row == {"pair": "BTC/USDT", "trades": 3, "avg_profit_pct": pytest.approx(5 / 3),
                   "total_profit": 5.0, "total_profit_pct": pytest.approx(0.5),
                   "avg_duration_hours": pytest.approx(2.0), "wins": 1, "draws": 1,
                   "losses": 1, "win_rate_pct": pytest.approx(100 / 3)}
    (empty,) = pair_table(trade_log([]), timestamps, 1000.0, "BTC/USDT")
    assert (empty["trades"], empty["avg_profit_pct"], empty["win_rate_pct"]) == (0, None, None)


def test_drawdown_periods_list_the_deepest_first_with_start_trough_and_end():
    # peak 1000 (start), down to 900 (-10 %), back at 1000 at candle 3;
    # peak 1200 at 4, down to 960 (-20 %) at 6, never back
    timestamps = [JAN1 + index * DAY_MS for index in range(8)]
    candles = candles_at(timestamps, [1.0] * 8)
    equity = np.array([950.0, 900.0, 990.0, 1000.0, 1200.0, 1100.0, 960.0, 1000.0])
    rows = drawdown_periods(candles, equity, 1000.0)
    assert rows == [
        {"start": "2024-01-05T00:00:00Z", "trough": "2024-01-07T00:00:00Z", "end": None,
         "recovered": False, "depth_pct": pytest.approx(20.0), "depth_abs": 240.0,
         "peak_equity": 1200.0, "trough_equity": 960.0, "duration_days": 3.0},
        {"start": "2024-01-01T00:00:00Z", "trough": "2024-01-02T00:00:00Z",
         "end": "2024-01-04T00:00:00Z", "recovered": True, "depth_pct": pytest.approx(10.0),
         "depth_abs": 100.0, "peak_equity": 1000.0, "trough_equity": 900.0,
         "duration_days": 3.0},
    ]
    assert len(drawdown_periods(candles, equity, 1000.0, top=1)) == 1
    assert drawdown_periods(candles, np.arange(1000.0, 1008.0), 1000.0) == []


def test_the_report_adds_the_tables_and_keeps_its_keys_as_strict_json():
    candles = candles_at([JAN1 + index * HOUR_MS for index in range(4)], [1.0] * 4)
    result = SimulationResult(np.array([1000.0, 990.0, 1010.0, 1005.0]),
                              trade_log([10.0, -5.0], entry_index=[0, 1], exit_index=[1, 3]),
                              exposure_candles=3, pause_index=-1)
    config = BacktestConfig(strategy="sma_cross", cash=1000.0).resolve()
    report = build_report(candles, result, config, None, pair="ETH/USDT")
    assert {"config", "period", "metrics", "definitions", "exit_reasons", "monthly", "trades",
            "equity", "lookahead", "pause", "pairs", "daily", "drawdowns"} == set(report)
    assert report["pairs"][0]["pair"] == "ETH/USDT"
    assert [row["day"] for row in report["daily"]] == ["2024-01-01"]
    assert report["drawdowns"][0]["depth_abs"] == 10.0
    assert {"days", "balance", "drawdown_abs"} <= set(report["definitions"])
    assert build_report(candles, result, config, None)["pairs"][0]["pair"] == "all"
    json.dumps(report, allow_nan=False)
