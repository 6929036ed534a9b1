"""The Backtests page's runs list: return, drawdown, trades and Sharpe per run, sorted on the
server by ?sort=, and ticked runs compared side by side on /backtests/compare/."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from trading.models import BacktestRun

COMPARE = "/backtests/compare/"


def stored_run(tenant, *, return_pct=None, drawdown=None, trades=None, sharpe=None,
               strategy="sma_cross", **fields) -> BacktestRun:
    """A finished run whose stored report carries these metrics (None: no report at all)."""
    report = None
    if return_pct is not None:
        report = {"metrics": {"return_pct": return_pct, "max_drawdown_pct": drawdown,
                              "trades": trades, "sharpe": sharpe, "start_equity": 1000.0},
                  "config": {"cash": 1000.0, "fee": 0.001, "slippage": 0.0,
                             "risk": {"stake_fraction": 0.5}, "params": {"fast": 5}},
                  "period": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-31T23:00:00Z"},
                  "equity": [[1_704_067_200_000, 1000.0], [1_704_070_800_000, 1100.0]]}
    return BacktestRun.objects.create(
        tenant=tenant, strategy=strategy, symbol="BTC/USDT", timeframe="1h",
        status=BacktestRun.Status.DONE if report else BacktestRun.Status.QUEUED,
        report=report, **fields)


@pytest.fixture
def three_runs(world):
    """#a +12 % (dd 5, 10 trades, Sharpe 1.5), #b -3 % (dd 9, 4, -0.2), #c +30 % (dd 20, 25,
    2.1), and a queued run without a report."""
    return {"a": stored_run(world.tenant_a, return_pct=12.0, drawdown=5.0, trades=10, sharpe=1.5),
            "b": stored_run(world.tenant_a, return_pct=-3.0, drawdown=9.0, trades=4, sharpe=-0.2),
            "c": stored_run(world.tenant_a, return_pct=30.0, drawdown=20.0, trades=25,
                            sharpe=2.1),
            "queued": stored_run(world.tenant_a)}


def listed_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-run="(\d+)"', response.content.decode())]


def test_it_shows_each_runs_figures_and_a_dash_without_a_report(alice, three_runs):
    response = alice.get(reverse("dashboard:backtests"))
    page = response.content.decode()
    row = re.search(rf'<tr data-run="{three_runs["c"].pk}">.*?</tr>', page).group(0)
    assert "30.00 %" in row and "20.00 %" in row and ">25<" in row and "2.10" in row
    queued = re.search(rf'<tr data-run="{three_runs["queued"].pk}">.*?</tr>', page).group(0)
    assert queued.count("—") == 4


@pytest.mark.parametrize(("sort", "order"), [
    ("-return_pct", ["c", "a", "b", "queued"]),
    ("return_pct", ["b", "a", "c", "queued"]),
    ("max_drawdown_pct", ["a", "b", "c", "queued"]),
    ("-trades", ["c", "a", "b", "queued"]),
    ("-sharpe", ["c", "a", "b", "queued"]),
    ("sharpe", ["b", "a", "c", "queued"]),
    ("created_at", ["a", "b", "c", "queued"]),
])
def test_it_sorts_by_each_column_with_runs_lacking_the_figure_last(alice, three_runs, sort,
                                                                     order):
    response = alice.get(reverse("dashboard:backtests"), {"sort": sort})
    assert listed_ids(response) == [three_runs[name].pk for name in order]


@pytest.mark.parametrize("sort", ["report", "-password", "return_pct;drop", "", "--trades"])
def test_an_unknown_sort_is_the_newest_first_never_an_error(alice, three_runs, sort):
    response = alice.get(reverse("dashboard:backtests"), {"sort": sort})
    assert response.status_code == 200
    assert listed_ids(response) == [three_runs[name].pk for name in ("queued", "c", "b", "a")]


def test_the_headers_link_to_their_sort_and_say_the_current_one(alice, three_runs):
    page = alice.get(reverse("dashboard:backtests"), {"sort": "-return_pct"}).content.decode()
    assert 'aria-sort="descending"><a href="?sort=return_pct#past-runs"' in page
    assert 'href="?sort=-sharpe#past-runs"' in page


def test_the_list_shows_no_other_tenants_runs(world, alice):
    theirs = stored_run(world.tenant_b, return_pct=99.0, drawdown=1.0, trades=1, sharpe=9.0)
    assert theirs.pk not in listed_ids(alice.get(reverse("dashboard:backtests"),
                                                 {"sort": "-return_pct"}))


def test_the_list_is_a_form_that_compares_the_ticked_runs(alice, three_runs):
    page = alice.get(reverse("dashboard:backtests")).content.decode()
    assert f'<form method="get" action="{COMPARE}" id="compare-form">' in page
    assert f'name="run" value="{three_runs["a"].pk}"' in page


def test_compare_shows_the_runs_side_by_side_with_the_best_marked(alice, three_runs):
    a, b, c = three_runs["a"], three_runs["b"], three_runs["c"]
    response = alice.get(COMPARE, {"run": [a.pk, b.pk, c.pk]})

    assert response.status_code == 200
    page = response.content.decode()
    assert [int(pk) for pk in re.findall(r'<th data-run="(\d+)"', page)] == [a.pk, b.pk, c.pk]
    returns = re.search(r'<tr data-row="return_pct">.*?</tr>', page).group(0)
    assert returns.count('data-best="true"') == 1 and "30.00 % ★" in returns
    drawdown = re.search(r'<tr data-row="max_drawdown_pct">.*?</tr>', page).group(0)
    assert "5.00 % ★" in drawdown  # lower is better
    for row in ("strategy", "parameters", "market", "range", "data", "fee", "slippage",
                "stake", "sharpe", "trades"):
        assert f'data-row="{row}"' in page
    assert "fast 5" in page and "0.1 %" in page and "50 %" in page
    assert 'id="compare-data"' in page and 'id="compare-chart"' in page


def test_compare_takes_a_comma_list_too(alice, three_runs):
    response = alice.get(COMPARE, {"runs": f"{three_runs['b'].pk},{three_runs['a'].pk}"})
    assert response.status_code == 200
    assert [int(pk) for pk in re.findall(r'<th data-run="(\d+)"', response.content.decode())] \
        == [three_runs["b"].pk, three_runs["a"].pk]


def test_compare_with_another_tenants_run_is_a_404(world, alice, three_runs):
    theirs = stored_run(world.tenant_b, return_pct=1.0, drawdown=1.0, trades=1, sharpe=1.0)
    response = alice.get(COMPARE, {"runs": f"{three_runs['a'].pk},{theirs.pk}"})
    assert response.status_code == 404
    missing = alice.get(COMPARE, {"runs": f"{three_runs['a'].pk},2000000000"})
    assert missing.status_code == 404


@pytest.mark.parametrize(("query", "words"), [
    ({}, "Pick 2 to 6 runs to compare (you picked 0)."),
    ({"runs": "7"}, "Pick 2 to 6 runs to compare (you picked 1)."),
    ({"runs": "1,2,3,4,5,6,7"}, "Pick 2 to 6 runs to compare (you picked 7)."),
    ({"runs": "1,x"}, "Name the runs to compare by their numbers"),
    ({"runs": "-1,2"}, "Name the runs to compare by their numbers"),
    ({"runs": "1," + "9" * 40}, "Name the runs to compare by their numbers"),
    ({"run": ["3", "3"]}, "(you picked 1)"),
])
def test_a_bad_pick_goes_back_to_the_runs_list_with_a_message(alice, query, words):
    response = alice.get(COMPARE, query, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("dashboard:backtests") + "#past-runs"
    assert words in response.content.decode()


def test_compare_needs_a_sign_in(client, three_runs):
    response = client.get(COMPARE, {"runs": f"{three_runs['a'].pk},{three_runs['b'].pk}"})
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_figure_stored_as_null_shows_a_dash_not_zero(world, alice):
    flat = stored_run(world.tenant_a, return_pct=0.5, drawdown=0.0, trades=0, sharpe=None)
    page = alice.get(reverse("dashboard:backtests")).content.decode()
    row = re.search(rf'<tr data-run="{flat.pk}">.*?</tr>', page).group(0)
    assert 'data-field="sharpe">—<' in row and 'data-field="trades">0<' in row


def test_compare_shows_a_run_without_a_report_with_dashes(alice, three_runs):
    a, queued = three_runs["a"], three_runs["queued"]
    page = alice.get(COMPARE, {"runs": f"{a.pk},{queued.pk}"}).content.decode()
    returns = re.search(r'<tr data-row="return_pct">.*?</tr>', page).group(0)
    assert "12.00 %" in returns and "—" in returns
    assert 'data-best="true"' not in returns  # one value: nothing to compare it with
    assert "first candle to last candle" in page  # the queued run asked for the whole data
