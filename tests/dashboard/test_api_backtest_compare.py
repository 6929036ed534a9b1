"""/api/v1/backtests/compare/?runs=: runs side by side as the compare page shows them, and
the backtest list's figures with ?ordering= over the page's sort keys."""
from __future__ import annotations

import pytest

from tests.dashboard.test_backtest_runs_list import stored_run

BACKTESTS = "/api/v1/backtests/"
COMPARE = "/api/v1/backtests/compare/"


@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


@pytest.fixture
def runs(world):
    return [stored_run(world.tenant_a, return_pct=12.0, drawdown=5.0, trades=10, sharpe=1.5),
            stored_run(world.tenant_a, return_pct=30.0, drawdown=20.0, trades=25, sharpe=None),
            stored_run(world.tenant_a)]


def test_it_returns_the_runs_side_by_side_in_the_order_asked(reader, runs):
    first, second, queued = runs
    response = reader.get(COMPARE, {"runs": f"{second.pk},{first.pk},{queued.pk}"})

    assert response.status_code == 200
    body = response.json()
    assert [run["id"] for run in body["runs"]] == [second.pk, first.pk, queued.pk]
    rows = {row["key"]: row for row in body["metrics"]}
    assert rows["return_pct"]["values"] == [30.0, 12.0, None]
    assert rows["return_pct"]["best"] == [True, False, False]
    assert rows["max_drawdown_pct"]["better"] == "low"
    assert rows["max_drawdown_pct"]["best"] == [False, True, False]
    assert rows["sharpe"]["best"] == [False, False, False]  # one value: nothing to compare
    settings = {row["key"]: row["values"] for row in body["settings"]}
    assert settings["fee"][:2] == [0.001, 0.001] and settings["stake"][:2] == [0.5, 0.5]
    assert settings["range"][0] == {"start": "2024-01-01T00:00:00Z",
                                    "end": "2024-01-31T23:00:00Z"}
    assert body["equity"][0]["points"] == [[1_704_067_200_000, 0.0],
                                           [1_704_070_800_000, pytest.approx(10.0)]]
    assert body["equity"][2]["points"] == []


def test_another_tenants_run_is_a_404(world, reader, runs):
    theirs = stored_run(world.tenant_b, return_pct=1.0, drawdown=1.0, trades=1, sharpe=1.0)
    response = reader.get(COMPARE, {"runs": f"{runs[0].pk},{theirs.pk}"})
    assert response.status_code == 404
    assert reader.get(COMPARE, {"runs": f"{runs[0].pk},2000000000"}).status_code == 404


@pytest.mark.parametrize(("runs_param", "words"), [
    (None, "you picked 0"), ("5", "you picked 1"), ("1,2,3,4,5,6,7", "you picked 7"),
    ("1;2", "by their numbers"), ("1,2.5", "by their numbers"),
])
def test_a_bad_list_is_a_400_naming_the_parameter(reader, runs_param, words):
    response = reader.get(COMPARE, {} if runs_param is None else {"runs": runs_param})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "runs" in error["fields"] and words in str(error)


def test_it_needs_a_credential(db, client):
    assert client.get(COMPARE, {"runs": "1,2"}).status_code == 401


def test_the_list_carries_each_runs_figures(reader, runs):
    rows = {row["id"]: row for row in reader.get(BACKTESTS).json()["results"]}
    assert (rows[runs[0].pk]["return_pct"], rows[runs[0].pk]["max_drawdown_pct"],
            rows[runs[0].pk]["trades"], rows[runs[0].pk]["sharpe"]) == (12.0, 5.0, 10, 1.5)
    assert rows[runs[2].pk]["return_pct"] is None
    detail = reader.get(f"{BACKTESTS}{runs[0].pk}/").json()
    assert detail["return_pct"] == 12.0 and detail["report"]["metrics"]["trades"] == 10


@pytest.mark.parametrize(("ordering", "order"), [
    ("-return_pct", [1, 0, 2]), ("return_pct", [0, 1, 2]), ("-sharpe", [0, 2, 1]),
    ("max_drawdown_pct", [0, 1, 2]), ("-trades", [1, 0, 2]), ("created_at", [0, 1, 2]),
])
def test_the_list_orders_by_the_page_sort_keys_with_missing_figures_last(reader, runs,
                                                                         ordering, order):
    body = reader.get(BACKTESTS, {"ordering": ordering}).json()
    assert [row["id"] for row in body["results"]] == [runs[index].pk for index in order]


def test_an_unknown_ordering_is_a_400_naming_the_keys(reader, runs):
    response = reader.get(BACKTESTS, {"ordering": "report"})
    assert response.status_code == 400
    assert "return_pct" in str(response.json()["error"])


def test_the_schema_documents_compare_and_the_ordering(reader):
    schema = reader.get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/backtests/compare/"]["get"]
    assert any(parameter["name"] == "runs" and parameter["required"]
               for parameter in operation["parameters"])
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["$ref"].endswith("/BacktestCompare")
    ordering = next(parameter for parameter in
                    schema["paths"]["/api/v1/backtests/"]["get"]["parameters"]
                    if parameter["name"] == "ordering")
    assert ordering["in"] == "query"
