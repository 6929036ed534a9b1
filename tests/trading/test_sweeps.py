"""Parameter sweeps as a service: validated at once, queued, run by a task with progress."""
from __future__ import annotations

import pytest

from aitrader.errors import Forbidden, NotFound, ValidationFailed
from tenants.actors import Actor
from tests.base import owner_actor
from trading import selectors
from trading.core.backtest import walk_forward as wf
from trading.models import BacktestSweep
from trading.services import sweeps
from trading.services.backtests import stored_candles

pytestmark = pytest.mark.django_db

GRID = {"fast": {"min": 4, "max": 8, "step": 2}, "slow": [20, 30]}


def create(world, **changes):
    arguments = {"tenant": world.tenant_a, "actor": owner_actor(world.tenant_a),
                 "strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h",
                 "grid": GRID, "out_of_sample_pct": 30} | changes
    return sweeps.sweep_create(**arguments)


@pytest.fixture
def events(monkeypatch):
    """The facts the sweep publishes for the live feed, in order."""
    seen: list[tuple[int, str, dict]] = []
    monkeypatch.setattr(sweeps, "publish_now",
                        lambda tenant_id, kind, bot, data: seen.append((tenant_id, kind, data)))
    return seen


@pytest.fixture
def done(world, events, django_capture_on_commit_callbacks) -> BacktestSweep:
    with django_capture_on_commit_callbacks(execute=True):
        sweep = create(world, config={"preset": "balanced", "cash": 5000})
    sweep.refresh_from_db()
    assert sweep.status == BacktestSweep.Status.DONE, sweep.error
    return sweep


def test_create_validates_and_queues_once_the_transaction_commits(
        world, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr(sweeps.sweep_run_task, "delay", lambda *ids: queued.append(ids))
    with django_capture_on_commit_callbacks() as callbacks:
        sweep = create(world)
        assert queued == []
    for callback in callbacks:
        callback()
    assert queued == [(world.tenant_a.pk, sweep.pk)]
    assert (sweep.status, sweep.combinations, sweep.out_of_sample_pct) == ("queued", 6, 30)
    assert sweep.grid == {"fast": [4, 6, 8], "slow": [20, 30]}
    assert sweep.created_by == world.alice


def test_the_task_runs_it_to_done_with_ranked_rows(world, done):
    result = done.result
    assert done.progress == 100 and done.started_at and done.finished_at
    assert len(result["rows"]) == 6 and result["invalid"] == []
    returns = [row["in_sample"]["return_pct"] for row in result["rows"]]
    assert returns == sorted(returns, reverse=True)
    assert result["split"]["out_of_sample_pct"] == 30
    assert {"in_sample", "out_of_sample", "params", "rank"} <= set(result["rows"][0])


def test_the_rows_match_a_walk_forward_of_the_stored_candles(world, done):
    from trading.core.backtest.config import BacktestConfig

    candles = stored_candles(symbol="BTC/USDT", timeframe="1h")
    expected = wf.run_walk_forward(
        candles, BacktestConfig(strategy="sma_cross", preset="balanced", cash=5000),
        {"fast": [4, 6, 8], "slow": [20, 30]}, pct=30)
    assert done.result["rows"] == expected["rows"]


def test_progress_is_published_from_zero_to_one_hundred(world, done, events):
    mine = [data for tenant_id, kind, data in events if kind == "sweep"]
    assert {tenant_id for tenant_id, _, _ in events} == {world.tenant_a.pk}
    assert {data["id"] for data in mine} == {done.pk}
    progress = [data["progress"] for data in mine]
    assert progress[0] == 0 and progress[-1] == 100 and progress == sorted(progress)
    assert any(0 < value < 100 for value in progress)
    assert [data["status"] for data in mine][-1] == "done"


def test_a_redelivered_task_leaves_a_done_sweep_alone(world, done, events):
    events.clear()
    again = sweeps.sweep_execute(tenant_id=world.tenant_a.pk, sweep_id=done.pk)
    assert again.status == "done" and events == []


def test_fixed_parameters_apply_to_every_combination(world, events,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sweep = create(world, grid={"slow": [40, 50]}, parameters={"fast": 30})
    sweep.refresh_from_db()
    assert [row["params"]["fast"] for row in sweep.result["rows"]] == [30, 30]


def test_another_tenants_sweep_is_not_found(world, done):
    with pytest.raises(NotFound):
        selectors.sweep_get(tenant=world.tenant_b, sweep_id=done.pk)
    assert list(selectors.sweep_list(tenant=world.tenant_b)) == []
    assert selectors.sweep_get(tenant=world.tenant_a, sweep_id=done.pk) == done
    with pytest.raises(NotFound):
        sweeps.sweep_execute(tenant_id=world.tenant_b.pk, sweep_id=done.pk)


@pytest.mark.parametrize(("changes", "field"), [
    ({"strategy": "moonshot"}, "strategy"),
    ({"strategy": "ml_signal"}, "strategy"),
    ({"grid": {}}, "grid"),
    ({"grid": "fast=5"}, "grid"),
    ({"grid": {"lookback": [1, 2]}}, "lookback"),
    ({"grid": {"fast": {"min": 1, "max": 80}, "slow": [100, 200, 300, 400, 500, 600]}}, "grid"),
    ({"grid": {"fast": {"min": 0, "max": 5}}}, "fast"),
    ({"grid": {"fast": [30, 40], "slow": [10, 20]}}, "grid"),
    ({"grid": {"slow": [30]}, "parameters": {"fast": 0}}, "fast"),
    ({"grid": {"slow": [30]}, "parameters": {"slow": 40}}, "slow"),
    ({"out_of_sample_pct": 5}, "out_of_sample_pct"),
    ({"out_of_sample_pct": "half"}, "out_of_sample_pct"),
    ({"timeframe": "2x"}, "timeframe"),
    ({"symbol": "DOGE/USDT"}, "symbol"),
    ({"config": {"cash": -1}}, "cash"),
    ({"config": {"preset": "yolo"}}, "preset"),
    ({"config": {"leverage": 3}}, "leverage"),
    ({"config": {"start_ms": 1, "end_ms": 2}}, "start_ms"),
    ({"config": {"start_ms": "soon"}}, "start_ms"),
])
def test_a_bad_request_names_its_field_and_queues_nothing(world, changes, field):
    with pytest.raises(ValidationFailed) as raised:
        create(world, **changes)
    assert raised.value.field == field, raised.value.message
    assert raised.value.message
    assert not BacktestSweep.objects.for_tenant(world.tenant_a).exists()


def test_a_key_without_read_scope_cannot_sweep(world):
    actor = Actor(tenant=world.tenant_a, user=None, api_key=world.key_row(world.read_key_a),
                  scopes=frozenset())
    with pytest.raises(Forbidden):
        create(world, actor=actor)


def test_a_sweep_that_fails_records_why(world, events, django_capture_on_commit_callbacks,
                                        monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sweeps, "run_walk_forward", broken)
    with django_capture_on_commit_callbacks(execute=True):
        sweep = create(world)
    sweep.refresh_from_db()
    assert sweep.status == "failed" and "internal error" in sweep.error
    assert "boom" not in sweep.error


def test_unfinished_sweeps_are_queued_again(world, monkeypatch):
    queued = []
    monkeypatch.setattr(sweeps.sweep_run_task, "delay", lambda *ids: queued.append(ids))
    waiting = BacktestSweep.objects.create(tenant=world.tenant_b, strategy="sma_cross",
                                           symbol="BTC/USDT", timeframe="1h")
    BacktestSweep.objects.create(tenant=world.tenant_a, strategy="sma_cross", symbol="BTC/USDT",
                                 timeframe="1h", status=BacktestSweep.Status.DONE)
    assert sweeps.sweeps_resume() == 1
    assert queued == [(world.tenant_b.pk, waiting.pk)]


def test_a_range_too_short_to_split_fails_the_job_with_the_reason(
        world, django_capture_on_commit_callbacks):
    """Creating reads only the data set's bounds; the job, which reads the candles, says the
    range is too short for an out-of-sample part."""
    first = stored_candles(symbol="BTC/USDT", timeframe="1h").timestamp[:3]
    with django_capture_on_commit_callbacks(execute=True):
        sweep = create(world, config={"start_ms": int(first[0]), "end_ms": int(first[-1])})
    sweep.refresh_from_db()
    assert sweep.status == BacktestSweep.Status.FAILED
    assert "too few to split 70/30" in sweep.error
