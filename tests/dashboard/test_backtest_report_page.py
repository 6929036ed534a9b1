"""A finished backtest's page: the candles of its range with entry and exit marks (resampled
to at most CHART_CANDLES_MAX), freqtrade's extra figures, drawdown periods, the daily and
monthly tables, per pair and per exit reason; an old stored report still renders."""
from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from tests.base import owner_actor
from trading.core.backtest.synthetic import random_walk_candles
from trading.models import BacktestRun
from trading.services.backtest_chart import CHART_CANDLES_MAX, fit_candles
from trading.services.backtests import backtest_run_create

JUN_1_2024 = 1_717_200_000_000
DAY = 86_400_000


@pytest.fixture
def run_backtest(world, django_capture_on_commit_callbacks):
    """A backtest of the replayed sample made through the service, run to the end."""
    def run(**config) -> BacktestRun:
        with django_capture_on_commit_callbacks(execute=True):
            created = backtest_run_create(
                tenant=world.tenant_a, actor=owner_actor(world.tenant_a), strategy="sma_cross",
                symbol="BTC/USDT", timeframe="1h", parameters={"fast": 5, "slow": 20},
                config={"data": "sample", **config})
        done = BacktestRun.objects.for_tenant(world.tenant_a).get(pk=created.pk)
        assert done.status == BacktestRun.Status.DONE, done.error
        return done
    return run


def json_block(page: str, block_id: str):
    found = re.search(rf'<script id="{block_id}" type="application/json">(.*?)</script>', page,
                      re.S)
    return None if found is None else json.loads(html.unescape(found.group(1)))


def section(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}".*?</(table|section|dl)>', page, re.S).group(0)


def test_a_finished_run_shows_its_candles_with_trade_marks(alice, run_backtest):
    run = run_backtest(start_ms=JUN_1_2024, end_ms=JUN_1_2024 + 60 * DAY - 1)
    page = alice.get(reverse("dashboard:backtest_detail", args=[run.pk])).content.decode()

    data = json_block(page, "candles-data")
    assert len(data["candles"]) == 60 * 24  # the run's own 1h candles: under the cap
    assert data["candles"][0][0] == JUN_1_2024 and len(data["candles"][0]) == 5
    trades = run.report["trades"]
    assert trades and len(data["marks"]) == len(trades)
    assert data["marks"][0]["entry_time"] == trades[0]["entry_time"]
    assert 'id="candles-chart"' in page and "1440 1h candles" in page
    assert "resampled" not in section(page, "report-candles")


def test_a_long_run_draws_coarser_candles_and_says_so(alice, run_backtest):
    run = run_backtest()  # two years of 1h candles: 17,520
    page = alice.get(reverse("dashboard:backtest_detail", args=[run.pk])).content.decode()

    data = json_block(page, "candles-data")
    assert len(data["candles"]) <= CHART_CANDLES_MAX
    assert data["candles"][1][0] - data["candles"][0][0] == 12 * 3_600_000
    note = html.unescape(section(page, "report-candles"))
    assert "1460 12h candles, resampled from the run's 1h candles to draw at most 2000" in note


def test_it_shows_the_extra_figures_and_every_table(alice, run_backtest):
    run = run_backtest(start_ms=JUN_1_2024, end_ms=JUN_1_2024 + 90 * DAY - 1)
    metrics = run.report["metrics"]
    page = alice.get(reverse("dashboard:backtest_detail", args=[run.pk])).content.decode()

    summary = section(page, "report-summary")
    for label in ("Absolute drawdown", "Drawdown from", "Drawdown to", "Min balance",
                  "Max balance", "Median trade", "Average stake", "Volume traded",
                  "Trades a day", "Best day", "Worst day", "Winning days", "Losing days",
                  "Winners held (avg)", "Losers held (avg)"):
        assert f"<dt class=\"small muted\">{label}</dt>" in summary, label
    assert f"<dd>{metrics['winning_days']}</dd>" in summary
    assert metrics["drawdown_start"].replace("T", " ")[:16] in summary

    drawdowns = section(page, "report-drawdowns")
    assert drawdowns.count("<tr>") == 1 + len(run.report["drawdowns"]) > 1
    daily = section(page, "report-daily")
    assert daily.count("<tr>") == 1 + 60  # the latest 60 of 90 days
    assert run.report["daily"][-1]["day"] in daily
    assert run.report["daily"][0]["day"] not in daily
    assert 'id="daily-json"' in page and "latest 60 of 90 days" in page
    monthly = section(page, "report-monthly")
    assert all(row["month"] in monthly for row in run.report["monthly"])
    pairs = section(page, "report-pairs")
    assert "BTC/USDT" in pairs and f">{metrics['trades']}<" in pairs
    reasons = section(page, "exit-reasons")
    assert all(row["reason"].replace("_", " ") in reasons for row in run.report["exit_reasons"])


def test_an_old_report_without_the_new_keys_renders_with_dashes(world, alice):
    old = BacktestRun.objects.create(
        tenant=world.tenant_a, strategy="sma_cross", symbol="BTC/USDT", timeframe="1h",
        status=BacktestRun.Status.DONE, config={},
        report={"metrics": {"return_pct": 4.2, "trades": 3, "max_drawdown_pct": 2.0},
                "period": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z",
                           "candles": 25},
                "equity": [[1_704_067_200_000, 1000.0]], "trades": [], "exit_reasons": [],
                "monthly": []})
    response = alice.get(reverse("dashboard:backtest_detail", args=[old.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<dd>—</dd>" in section(page, "report-summary")
    assert "stored before the per-pair table existed" in page
    assert "stored before drawdown periods existed" in page
    assert "stored before the daily table existed" in page


def test_a_run_whose_data_is_gone_shows_its_figures_without_the_chart(world, alice):
    gone = BacktestRun.objects.create(
        tenant=world.tenant_a, strategy="sma_cross", symbol="SOL/USDT", timeframe="1h",
        status=BacktestRun.Status.DONE, config={"data": "upload", "exchange": "binance"},
        report={"metrics": {"return_pct": 1.0}, "trades": [],
                "config": {"data": {"set": "upload", "exchange": "binance"}}})
    page = alice.get(reverse("dashboard:backtest_detail", args=[gone.pk])).content.decode()
    assert "can no longer be read" in page
    assert 'id="candles-data"' not in page


def test_another_tenants_report_is_a_404(world, client, run_backtest):
    run = run_backtest(start_ms=JUN_1_2024, end_ms=JUN_1_2024 + 5 * DAY)
    client.force_login(world.charlie)
    assert client.get(reverse("dashboard:backtest_detail", args=[run.pk])).status_code == 404


def test_fit_candles_picks_the_finest_timeframe_that_fits():
    minutes = random_walk_candles(5_000, seed=1, start_ms=JUN_1_2024, timeframe_ms=60_000)
    fitted = fit_candles(minutes, "1m", limit=2_000)
    assert (fitted.timeframe, fitted.resampled, len(fitted.candles)) == ("3m", True, 1_666)
    assert fitted.candles[0][0] == JUN_1_2024 and fitted.dropped == 0


def test_fit_candles_keeps_the_newest_when_even_days_are_too_many():
    days = random_walk_candles(3_000, seed=2, start_ms=0, timeframe_ms=DAY)
    fitted = fit_candles(days, "1d", limit=2_000)
    assert (fitted.timeframe, fitted.resampled, fitted.dropped) == ("1d", False, 1_000)
    assert fitted.candles[-1][0] == int(days.timestamp[-1])
