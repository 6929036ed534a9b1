"""/api/v1/backtests/: create validates and queues a run (run in the caller here, no job pool);
detail reports."""
from __future__ import annotations

import pytest

from trading.models import BacktestRun

BACKTESTS = "/api/v1/backtests/"
SMA = {"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h",
       "parameters": {"fast": 5, "slow": 20}}


@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


@pytest.fixture
def run_now(django_capture_on_commit_callbacks):
    """POST a backtest and let its Celery task run (eagerly) when the request commits."""
    def post(client, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(BACKTESTS, body, format="json")
    return post


def test_a_backtest_runs_to_done_with_a_report(world, reader, run_now):
    created = run_now(reader, SMA | {"config": {"preset": "balanced", "cash": 5000}})
    assert created.status_code == 202, created.content
    assert created.json()["status"] == "queued"
    detail = reader.get(f"{BACKTESTS}{created.json()['id']}/")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["status"], body["progress"], body["error"]) == ("done", 100, "")
    assert body["started_at"] and body["finished_at"]
    metrics = body["report"]["metrics"]
    assert metrics["start_equity"] == 5000
    assert {"return_pct", "max_drawdown_pct", "sharpe", "trades", "win_rate_pct"} <= set(metrics)
    assert metrics["trades"] > 0
    assert body["report"]["equity"]
    run = BacktestRun.objects.get(pk=body["id"])
    assert run.tenant_id == world.tenant_a.pk


def test_the_list_shows_runs_without_their_reports(reader, run_now):
    run_now(reader, SMA)
    (row,) = reader.get(BACKTESTS).json()["results"]
    assert row["status"] == "done"
    assert "report" not in row


def test_the_list_filters_by_status_and_strategy(world, reader, run_now):
    run_now(reader, SMA)
    BacktestRun.objects.create(tenant=world.tenant_a, strategy="grid", symbol="BTC/USDT",
                               timeframe="1h")
    assert [r["strategy"] for r in reader.get(BACKTESTS, {"status": "queued"})
            .json()["results"]] == ["grid"]
    assert [r["status"] for r in reader.get(BACKTESTS, {"strategy": "sma_cross"})
            .json()["results"]] == ["done"]


def test_a_viewer_session_may_run_a_backtest(world, run_now):
    response = run_now(world.client_for(world.bob), SMA)
    assert response.status_code == 202
    assert BacktestRun.objects.get().status == BacktestRun.Status.DONE


@pytest.mark.parametrize(("change", "field"), [
    ({"strategy": "moonshot"}, "strategy"),
    ({"parameters": {"fast": 0, "slow": 20}}, "fast"),
    ({"parameters": {"fast": 40, "slow": 20}}, "fast"),
    ({"parameters": {"lookback": 3}}, "lookback"),
    ({"timeframe": "2x"}, "timeframe"),
    ({"config": {"preset": "yolo"}}, "preset"),
    ({"config": {"leverage": 100}}, "leverage"),
    ({"config": {"cash": -1}}, "cash"),
])
def test_a_bad_request_is_a_400_naming_the_field_and_queues_nothing(reader, change, field):
    response = reader.post(BACKTESTS, SMA | change, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not BacktestRun.objects.exists()


def test_an_unknown_config_key_is_named_in_the_message(reader):
    response = reader.post(BACKTESTS, SMA | {"config": {"levrage": 2}}, format="json")
    assert response.status_code == 400
    assert "levrage" in response.json()["error"]["message"]


def test_a_market_without_stored_candles_is_refused_at_once(reader, run_now):
    response = run_now(reader, SMA | {"symbol": "DOGE/USDT"})
    assert response.status_code == 400
    assert "DOGE/USDT" in response.json()["error"]["message"]
    assert not BacktestRun.objects.exists()


def test_a_date_range_limits_the_candles(reader, run_now):
    from trading.services.backtests import stored_candles

    candles = stored_candles(symbol="BTC/USDT", timeframe="1h")
    start, end = int(candles.timestamp[100]), int(candles.timestamp[400])
    created = run_now(reader, SMA | {"config": {"start_ms": start, "end_ms": end}})
    report = reader.get(f"{BACKTESTS}{created.json()['id']}/").json()["report"]
    assert report["period"]["candles"] == 301


def test_a_date_range_without_candles_is_refused(reader, run_now):
    response = run_now(reader, SMA | {"config": {"start_ms": 1, "end_ms": 2}})
    assert response.status_code == 400
    assert response.json()["error"]["fields"].keys() == {"start_ms"}


def test_creating_a_backtest_needs_a_credential(db, client):
    response = client.post(BACKTESTS, SMA, content_type="application/json")
    assert response.status_code == 401
    assert not BacktestRun.objects.exists()


def test_the_backtest_list_costs_a_fixed_number_of_queries(world, reader,
                                                         django_assert_num_queries):
    def add(count):
        BacktestRun.objects.bulk_create(
            BacktestRun(tenant=world.tenant_a, strategy="sma_cross", symbol="BTC/USDT",
                        timeframe="1h", report={"big": list(range(100))}) for _ in range(count))
    add(1)
    reader.get(BACKTESTS)
    with django_assert_num_queries(3):
        reader.get(BACKTESTS)
    add(29)
    with django_assert_num_queries(3):
        assert len(reader.get(BACKTESTS).json()["results"]) == 30
