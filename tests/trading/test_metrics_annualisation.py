"""Sharpe, Sortino and annualised return are annualised from the period their returns cover
(a UTC day, or one candle when candles are longer), the report says which definition it
used, and freqtrade's trade-based Sharpe stands beside it."""
from __future__ import annotations

import math

import numpy as np
import pytest
from django.urls import reverse

from tests.base import owner_actor
from trading.core.backtest import metrics
from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.report import build_report
from trading.core.backtest.simulation import DAY_MS, SimulationResult
from trading.models import BacktestRun
from trading.services.backtests import backtest_run_create

from .test_backtest_metrics import candles_at, trade_log

MONTHLY_RETURNS = [0.04, -0.02, 0.05, -0.03, 0.06, 0.01, -0.04, 0.03, 0.02, -0.01, 0.05, 0.0]


def _month_starts(count: int) -> list[int]:
    months = np.arange(np.datetime64("2023-01"), np.datetime64("2023-01") + count)
    return months.astype("datetime64[ms]").astype(np.int64).tolist()


def _curve(returns: list[float], start: float = 1000.0) -> np.ndarray:
    return start * np.cumprod(1.0 + np.array(returns))


def _monthly_case(returns=MONTHLY_RETURNS):
    timestamps = _month_starts(len(returns))
    candles = candles_at(timestamps, [100.0] * len(returns))
    result = SimulationResult(_curve(returns), trade_log([]), exposure_candles=0,
                              pause_index=-1)
    return candles, result, timestamps


def test_monthly_candles_are_annualised_by_months_not_by_365_days():
    candles, result, timestamps = _monthly_case()
    values = metrics.equity_metrics(candles, result, 1000.0)
    returns = np.array(MONTHLY_RETURNS)
    periods = 365 * DAY_MS / ((timestamps[-1] - timestamps[0]) / (len(timestamps) - 1))
    assert periods == pytest.approx(12.0, rel=0.01)
    per_period = returns.mean() / returns.std(ddof=1)
    assert values["sharpe"] == pytest.approx(per_period * math.sqrt(periods))
    # The old scaling by sqrt(365) made the same curve look 5.5 times better.
    assert values["sharpe"] < per_period * math.sqrt(365) / 5
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert values["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(periods))
    assert values["annualised_return_pct"] == pytest.approx(returns.mean() * periods * 100)
    assert values["return_period_days"] == pytest.approx(334 / 11)
    assert values["periods_per_year"] == pytest.approx(periods)


def test_weekly_candles_are_annualised_by_weeks():
    returns = [0.01, -0.02, 0.03, 0.0, 0.015, -0.005]
    timestamps = [index * 7 * DAY_MS for index in range(len(returns))]
    candles = candles_at(timestamps, [100.0] * len(returns))
    result = SimulationResult(_curve(returns), trade_log([]), exposure_candles=0,
                              pause_index=-1)
    values = metrics.equity_metrics(candles, result, 1000.0)
    array = np.array(returns)
    assert values["periods_per_year"] == pytest.approx(365 / 7)
    assert values["sharpe"] == pytest.approx(
        array.mean() / array.std(ddof=1) * math.sqrt(365 / 7))


def test_intraday_and_daily_candles_keep_daily_returns_over_365_days():
    hourly = [index * 3_600_000 for index in range(24 * 4)]
    equity = np.repeat(_curve([0.01, -0.02, 0.03, 0.005]), 24)
    candles = candles_at(hourly, [100.0] * len(hourly))
    result = SimulationResult(equity, trade_log([]), exposure_candles=0, pause_index=-1)
    values = metrics.equity_metrics(candles, result, 1000.0)
    daily = np.array([0.01, -0.02, 0.03, 0.005])
    assert (values["return_period_days"], values["periods_per_year"]) == (1.0, 365.0)
    assert values["sharpe"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(365))


def test_the_trade_based_sharpe_follows_freqtrades_definition():
    # Three closed trades on 1000 of starting equity over 30 days.
    trades = trade_log([10.0, -5.0, 20.0])
    per_trade = np.array([0.01, -0.005, 0.02])
    expected = per_trade.sum() / 30 / per_trade.std() * math.sqrt(365)
    assert metrics.trade_sharpe(trades, 1000.0, 30 * DAY_MS) == pytest.approx(expected)
    # Periods shorter than a day count as one day, like freqtrade's.
    assert metrics.trade_sharpe(trades, 1000.0, DAY_MS // 2) == pytest.approx(expected * 30)
    assert metrics.trade_sharpe(trade_log([]), 1000.0, 30 * DAY_MS) is None
    assert metrics.trade_sharpe(trade_log([5.0, 5.0]), 1000.0, 30 * DAY_MS) is None


def test_the_report_names_its_definitions_and_carries_both_sharpes():
    candles, result, _ = _monthly_case()
    result = SimulationResult(result.equity, trade_log([10.0, -5.0, 20.0], exit_index=[2, 5, 9]),
                              exposure_candles=6, pause_index=-1)
    config = BacktestConfig(strategy="sma_cross", cash=1000.0).resolve()
    report = build_report(candles, result, config, None)
    values = report["metrics"]
    assert values["sharpe_trades"] == pytest.approx(
        metrics.trade_sharpe(result.trades, 1000.0, metrics.span_ms(candles.timestamp)))
    definitions = report["definitions"]
    assert "one candle" in definitions["return_period"]
    assert "30.4 days" in definitions["return_period"]
    assert "√12.0" in definitions["sharpe"] and "sample standard deviation" in \
        definitions["sharpe"]
    assert "downside deviation" in definitions["sortino"]
    assert "× 12.0" in definitions["annualised_return"]
    assert "freqtrade" in definitions["sharpe_trades"] and "√365" in \
        definitions["sharpe_trades"]


@pytest.mark.django_db
def test_the_page_and_the_api_show_both_definitions(world, client,
                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = backtest_run_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                  strategy="sma_cross", symbol="BTC/USDT", timeframe="1h",
                                  parameters={"fast": 5, "slow": 20}, config={"cash": 10000})
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    body = world.client_with_key(world.read_key_a).get(f"/api/v1/backtests/{run.pk}/").json()
    assert {"sharpe", "sharpe_trades", "periods_per_year"} <= set(body["report"]["metrics"])
    assert body["report"]["definitions"]["return_period"] == "1 UTC day"
    client.force_login(world.alice)
    page = client.get(reverse("dashboard:backtest_detail", args=[run.pk])).content.decode()
    assert "Sharpe (trades, as freqtrade)" in page
    assert body["report"]["definitions"]["sharpe"] in page
    assert body["report"]["definitions"]["sharpe_trades"] in page
