"""The sweep pages: the form (per-parameter ranges), POST/redirect/GET, progress, the results
table with in-sample and out-of-sample figures, and the heatmap."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.base import owner_actor
from tests.dashboard.test_pages import assert_strict_csp_html
from trading.core.backtest import walk_forward
from trading.models import BacktestRun, BacktestSweep
from trading.services.sweeps import sweep_create

pytestmark = pytest.mark.django_db

SWEEPS = reverse("dashboard:sweeps")
FORM = {"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h", "cash": "5000",
        "preset": "balanced", "out_of_sample_pct": "30",
        "fast__from": "4", "fast__to": "8", "fast__step": "2", "fast__fixed": "10",
        "slow__from": "20", "slow__to": "40", "slow__step": "10", "slow__fixed": "20"}


@pytest.fixture
def post_now(django_capture_on_commit_callbacks):
    """POST the sweep form and let the sweep's task run (eagerly) when the request commits."""
    def post(client, data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(SWEEPS, data)
    return post


@pytest.fixture
def done(world, alice, post_now) -> BacktestSweep:
    response = post_now(alice, FORM)
    sweep = BacktestSweep.objects.for_tenant(world.tenant_a).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:sweep_detail", args=[sweep.pk])
    assert sweep.status == BacktestSweep.Status.DONE, sweep.error
    return sweep


def test_the_backtests_page_links_to_the_sweeps(alice):
    html = alice.get(reverse("dashboard:backtests")).content.decode()
    assert f'href="{SWEEPS}"' in html


def test_the_form_offers_a_range_or_a_value_per_declared_parameter(alice):
    html = alice.get(SWEEPS).content.decode()
    for name in ("fast__from", "fast__to", "fast__step", "fast__fixed", "slow__from",
                 "slow__fixed", "out_of_sample_pct"):
        assert f'name="{name}"' in html, name
    assert 'name="ml_signal"' not in html and 'value="ml_signal"' not in html
    rsi = alice.get(SWEEPS, {"strategy": "rsi_reversion"}).content.decode()
    assert 'name="oversold__from"' in rsi and 'name="fast__from"' not in rsi
    assert_strict_csp_html(html)


def test_the_form_queues_a_sweep_of_the_ranges_and_fixed_values(world, alice, done):
    assert done.grid == {"fast": [4, 6, 8], "slow": [20, 30, 40]}
    assert done.parameters == {}
    # The settings typed, and the data set the sweep reads, fixed when it was queued.
    assert done.config == {"cash": 5000.0, "preset": "balanced", "data": "sample"}
    assert done.out_of_sample_pct == 30 and done.created_by == world.alice


def test_a_fixed_value_is_kept_when_no_range_is_given(world, alice, post_now):
    data = FORM | {"fast__from": "", "fast__to": "", "fast__fixed": "5"}
    post_now(alice, data)
    sweep = BacktestSweep.objects.for_tenant(world.tenant_a).get()
    assert sweep.grid == {"slow": [20, 30, 40]} and sweep.parameters == {"fast": "5"}


def test_the_sweep_page_shows_the_results_table_and_heatmap(world, alice, done):
    html = alice.get(reverse("dashboard:sweep_detail", args=[done.pk])).content.decode()
    assert_strict_csp_html(html)
    table = html.split('id="sweep-results"', 1)[1].split("</table>", 1)[0]
    assert "In-sample" in table and "Out-of-sample" in table
    assert table.count("<tr>") == 2 + 9  # two header rows, one row per combination
    assert table.count("Backtest this") == 9
    heatmap = html.split('id="sweep-heatmap"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<td class="heat-(\d)"', heatmap)
    assert len(cells) == 9 and {"0", str(walk_forward.HEATMAP_LEVELS - 1)} <= set(cells)
    best = done.result["rows"][0]
    assert f"{best['out_of_sample']['return_pct']:,.2f} %".replace("-", "\u2212") in html


def test_the_heatmap_can_show_the_out_of_sample_figures(alice, done):
    url = reverse("dashboard:sweep_detail", args=[done.pk])
    response = alice.get(url, {"x": "slow", "y": "fast", "part": "out_of_sample"})
    heatmap = response.context["heatmap"]
    assert (heatmap["x"], heatmap["y"], heatmap["part"]) == ("slow", "fast", "out_of_sample")
    assert heatmap["x_values"] == [20, 30, 40]
    assert "Heatmap: Out-of-sample return" in response.content.decode()
    bad = alice.get(url, {"x": "slow", "y": "slow"})
    assert bad.status_code == 200 and bad.context["heatmap_error"]
    assert (bad.context["heatmap"]["x"], bad.context["heatmap"]["y"]) == ("fast", "slow")


def test_backtest_this_runs_the_combination(world, alice, done,
                                            django_capture_on_commit_callbacks):
    html = alice.get(reverse("dashboard:sweep_detail", args=[done.pk])).content.decode()
    form = html.split('id="sweep-results"', 1)[1].split("<form", 2)[1].split("</form>")[0]
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    data.pop("csrfmiddlewaretoken", None)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(reverse("dashboard:backtests"), data)
    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert response["Location"] == reverse("dashboard:backtest_detail", args=[run.pk])
    best = done.result["rows"][0]["params"]
    assert {name: int(value) for name, value in run.parameters.items()} == best
    assert (run.config["cash"], run.config["preset"]) == (5000.0, "balanced")


@pytest.mark.parametrize(("change", "field"), [
    ({"fast__from": "0"}, "fast__from"),
    ({"fast__to": ""}, "fast__from"),
    ({"fast__step": "abc"}, "fast__from"),
    ({"fast__from": "", "fast__to": "", "fast__fixed": "0"}, "fast__fixed"),
    ({"fast__from": "1", "fast__to": "100", "fast__step": "1", "slow__step": "5"}, None),
    ({"fast__from": "50", "fast__to": "60", "slow__from": "20", "slow__to": "30"}, None),
    ({"out_of_sample_pct": "80"}, "out_of_sample_pct"),
    ({"cash": "-5"}, "cash"),
    ({"strategy": "ml_signal"}, "strategy"),
])
def test_a_refused_form_shows_its_error_and_queues_nothing(world, alice, change, field):
    response = alice.post(SWEEPS, FORM | change)
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field) if field else form.non_field_errors()
    assert errors, form.errors
    html = response.content.decode()
    assert all(str(error) in html.replace("&#x27;", "'") for error in errors)
    assert not BacktestSweep.objects.exists()


def test_a_running_sweep_shows_a_progress_bar_fed_by_the_live_feed(world, alice):
    sweep = BacktestSweep.objects.create(tenant=world.tenant_a, strategy="sma_cross",
                                         symbol="BTC/USDT", timeframe="1h", status="running",
                                         progress=40, grid={"fast": [4, 5]}, combinations=2)
    html = alice.get(reverse("dashboard:sweep_detail", args=[sweep.pk])).content.decode()
    assert '<progress max="100" value="40"' in html
    assert reverse("api:sweep-detail", args=[sweep.pk]) in html  # the polling fallback
    assert "js/sweep.js" in html and "js/live.js" in html
    assert_strict_csp_html(html)


def test_the_list_shows_past_sweeps(alice, done):
    html = alice.get(SWEEPS).content.decode()
    assert reverse("dashboard:sweep_detail", args=[done.pk]) in html


def test_another_tenants_sweep_is_a_404(world, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sweep = sweep_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                             strategy="sma_cross", symbol="BTC/USDT", timeframe="1h",
                             grid={"fast": [4, 5]})
    client.force_login(world.charlie)
    assert client.get(reverse("dashboard:sweep_detail", args=[sweep.pk])).status_code == 404
    assert reverse("dashboard:sweep_detail", args=[sweep.pk]) not in \
        client.get(SWEEPS).content.decode()


def test_a_viewer_may_sweep(world, client, post_now):
    client.force_login(world.bob)
    assert post_now(client, FORM).status_code == 302


def test_signed_out_visitors_go_to_the_login_page(client):
    assert client.get(SWEEPS)["Location"].startswith(reverse("login"))


def test_a_choice_parameter_is_swept_by_listing_its_values(world, alice, post_now):
    html = alice.get(SWEEPS, {"strategy": "grid"}).content.decode()
    assert 'name="spacing__values"' in html and 'name="spacing__from"' not in html
    response = post_now(alice, {
        "strategy": "grid", "symbol": "BTC/USDT", "timeframe": "1h", "cash": "1000",
        "out_of_sample_pct": "20", "levels__from": "5", "levels__to": "10", "levels__step": "5",
        "spacing__values": "arithmetic, geometric", "range_pct__fixed": "8"})
    sweep = BacktestSweep.objects.for_tenant(world.tenant_a).get()
    assert response["Location"] == reverse("dashboard:sweep_detail", args=[sweep.pk])
    assert sweep.grid == {"levels": [5, 10], "spacing": ["arithmetic", "geometric"]}
    assert sweep.parameters["range_pct"] == "8" and sweep.status == "done", sweep.error
    page = alice.get(response["Location"]).content.decode()
    assert page.count('<td class="heat-') == 4


def test_a_bad_choice_value_is_shown_beside_its_input(alice):
    response = alice.post(SWEEPS, {
        "strategy": "grid", "symbol": "BTC/USDT", "timeframe": "1h", "cash": "1000",
        "out_of_sample_pct": "20", "spacing__values": "arithmetic, spiral"})
    assert response.status_code == 400
    assert "spiral" in str(response.context["form"].errors["spacing__values"])
