"""The sweep form steers a sweep as the backtest form steers a backtest: data set, date range,
fee, slippage and stake (the same fields and bounds), and "backtest this combination" carries
them to the backtest form."""
from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.forms import BacktestForm
from tests.dashboard.conftest import DAY, HOUR, JAN_1
from trading.models import BacktestSweep

pytestmark = pytest.mark.django_db

SWEEPS = reverse("dashboard:sweeps")
FORM = {"strategy": "sma_cross", "symbol": "SOL/USDT", "timeframe": "1h", "cash": "2500",
        "data": "stored", "start": "2024-01-03", "end": "2024-01-28", "fee": "0.25",
        "slippage": "0.05", "stake": "50", "out_of_sample_pct": "30",
        "fast__from": "4", "fast__to": "8", "fast__step": "2",
        "slow__from": "20", "slow__to": "30", "slow__step": "10"}


@pytest.fixture(autouse=True)
def history(january_sol_history):
    return january_sol_history


@pytest.fixture
def swept(world, alice, django_capture_on_commit_callbacks) -> BacktestSweep:
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(SWEEPS, FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    sweep = BacktestSweep.objects.for_tenant(world.tenant_a).get()
    assert sweep.status == BacktestSweep.Status.DONE, sweep.error
    return sweep


def test_the_form_offers_the_backtest_settings_and_the_stored_market(alice):
    html = alice.get(SWEEPS).content.decode()
    for name in ("data", "start", "end", "fee", "slippage", "stake"):
        assert f'name="{name}"' in html, name
    assert '<option value="SOL/USDT">' in html


def test_the_sweep_runs_over_the_chosen_range_with_the_chosen_frictions(swept):
    config = swept.config
    assert (config["start_ms"], config["end_ms"]) == (JAN_1 + 2 * DAY, JAN_1 + 28 * DAY - 1)
    assert (config["fee"], config["slippage"], config["stake"]) == (0.0025, 0.0005, 0.5)
    assert config["data"] == "stored" and config["cash"] == 2500.0
    split = swept.result["split"]
    assert split["in_sample"]["start_ms"] == JAN_1 + 2 * DAY  # the range's first candle
    assert split["out_of_sample"]["end_ms"] == JAN_1 + 28 * DAY - HOUR  # its last one
    assert split["in_sample"]["candles"] + split["out_of_sample"]["candles"] == 26 * 24


def test_a_fee_past_the_backtest_bound_is_refused_on_its_field(world, alice):
    response = alice.post(SWEEPS, FORM | {"fee": "50"})
    assert response.status_code == 400
    assert not BacktestSweep.objects.for_tenant(world.tenant_a).exists()
    assert "fee" in BacktestForm(FORM | {"fee": "50"}).errors  # the same bound as a backtest


def test_a_range_outside_the_data_is_the_form_with_its_error(world, alice):
    response = alice.post(SWEEPS, FORM | {"start": "2023-01-01", "end": "2023-02-01"})
    assert response.status_code == 400
    assert not BacktestSweep.objects.for_tenant(world.tenant_a).exists()


def test_backtest_this_combination_carries_the_settings(alice, swept):
    html = alice.get(reverse("dashboard:sweep_detail", args=[swept.pk])).content.decode()
    for name, value in (("start", "2024-01-03"), ("end", "2024-01-28"), ("fee", "0.25"),
                        ("slippage", "0.05"), ("stake", "50"), ("data", "stored")):
        assert f'name="{name}" value="{value}' in html, name
