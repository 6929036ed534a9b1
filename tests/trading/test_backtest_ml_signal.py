"""ml_signal in backtests: offered by the form and the API, run on the tenant's own model
(its active one for the market, or a chosen id), with a clear refusal when there is none."""
from __future__ import annotations

import pytest

from aitrader.errors import ValidationFailed
from dashboard.forms import BacktestForm
from mlmodels import artifacts
from mlmodels.inference import forget_caches, load_model
from mlmodels.models import MLModel
from mlmodels.resolver import forget_resolutions
from tests.base import owner_actor
from tests.mlmodels.conftest import quick_options, register, sample_candles, train_into
from trading.core.backtest import BacktestConfig, run_backtest
from trading.core.strategies.ml_signal import MlSignal
from trading.models import BacktestRun
from trading.services.backtests import backtest_run_create, backtest_run_execute, stored_candles

pytestmark = pytest.mark.django_db

# A few weeks of the stored hourly sample: enough for the model's warm-up, quick to run.
RANGE = {"start_ms": 1_730_000_000_000, "end_ms": 1_731_500_000_000}
Status = MLModel.Status


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One small MLP trained for real, copied into each test's registry rows."""
    return train_into(tmp_path_factory.mktemp("trained"), sample_candles(), quick_options())


@pytest.fixture(autouse=True)
def _media_and_caches(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    forget_caches()
    forget_resolutions()
    yield
    forget_caches()
    forget_resolutions()


def _create(world, tenant=None, **changes):
    tenant = tenant or world.tenant_a
    request = {"strategy": "ml_signal", "symbol": "BTC/USDT", "timeframe": "1h",
               "parameters": {}, "config": dict(RANGE)} | changes
    return backtest_run_create(tenant=tenant, actor=owner_actor(tenant), **request)


def _run(world, django_capture_on_commit_callbacks, **changes) -> BacktestRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = _create(world, **changes)
    run.refresh_from_db()
    return run


def test_it_is_offered_in_the_backtest_form():
    assert "ml_signal" in dict(BacktestForm().fields["strategy"].choices)


def test_it_runs_on_the_tenants_active_model_and_reports(world, trained, client,
                                                         django_capture_on_commit_callbacks):
    model = register(world.tenant_a, trained, status=Status.ACTIVE)
    run = _run(world, django_capture_on_commit_callbacks)
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.report["config"]["strategy"] == "ml_signal"
    assert run.report["ml_model"]["id"] == model.pk
    client.force_login(world.alice)
    page = client.get(f"/backtests/{run.pk}/").content.decode()
    assert 'data-field="ml-model"' in page and 'id="metrics-table"' in page
    # The task's report is the pure core's report on the same model and candles.
    predictor = load_model(artifacts.absolute(model.artifact_path),
                           expected_digest=model.artifact_sha256, model_id=model.pk)
    candles = stored_candles(symbol="BTC/USDT", timeframe="1h", **RANGE)
    direct = run_backtest(candles, BacktestConfig(strategy="ml_signal"), pair="BTC/USDT",
                          strategy=MlSignal.with_predictor(predictor))
    assert run.report["metrics"] == direct["metrics"]
    assert run.report["trades"] == direct["trades"]


def test_it_runs_on_a_chosen_model_of_the_market(world, trained,
                                                 django_capture_on_commit_callbacks):
    register(world.tenant_a, trained, status=Status.ACTIVE)
    chosen = register(world.tenant_a, trained, status=Status.READY)
    run = _run(world, django_capture_on_commit_callbacks,
               parameters={"model_id": chosen.pk, "enter_probability": 0.35})
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.report["ml_model"]["id"] == chosen.pk
    assert run.report["config"]["params"]["enter_probability"] == 0.35


def test_it_refuses_at_once_without_a_model_for_the_market(world, trained):
    register(world.tenant_a, trained, status=Status.ACTIVE, symbol="ETH/USDT")
    with pytest.raises(ValidationFailed, match="No active ML model for BTC/USDT 1h") as refusal:
        _create(world)
    assert "Models page" in refusal.value.message
    assert "holding" not in refusal.value.message  # a backtest does not hold, it cannot start
    assert not BacktestRun.objects.for_tenant(world.tenant_a).exists()


def test_another_tenants_model_is_not_found(world, trained):
    theirs = register(world.tenant_b, trained, status=Status.ACTIVE)
    with pytest.raises(ValidationFailed, match=f"ML model #{theirs.pk} was not found"):
        _create(world, parameters={"model_id": theirs.pk})


def test_it_refuses_a_model_of_another_market_or_not_trained(world, trained):
    eth = register(world.tenant_a, trained, status=Status.READY, symbol="ETH/USDT")
    with pytest.raises(ValidationFailed, match="trained on ETH/USDT 1h, not BTC/USDT 1h"):
        _create(world, parameters={"model_id": eth.pk})
    failed = register(world.tenant_a, trained, status=Status.FAILED)
    with pytest.raises(ValidationFailed, match="is failed"):
        _create(world, parameters={"model_id": failed.pk})


def test_a_stale_model_can_still_be_backtested(world, trained,
                                               django_capture_on_commit_callbacks):
    from datetime import timedelta

    register(world.tenant_a, trained, status=Status.ACTIVE, age=timedelta(days=90))
    run = _run(world, django_capture_on_commit_callbacks)
    assert run.status == BacktestRun.Status.DONE, run.error


def test_the_run_fails_with_the_reason_when_its_model_is_retired_first(world, trained):
    model = register(world.tenant_a, trained, status=Status.ACTIVE)
    run = _create(world)
    MLModel.objects.for_tenant(world.tenant_a).filter(pk=model.pk).update(
        status=Status.RETIRED)
    forget_resolutions()
    run = backtest_run_execute(tenant_id=world.tenant_a.pk, run_id=run.pk)
    assert run.status == BacktestRun.Status.FAILED
    assert "No active ML model for BTC/USDT 1h" in run.error


def test_the_page_shows_the_refusal_on_the_form(world, client):
    client.force_login(world.alice)
    response = client.post("/backtests/", {"strategy": "ml_signal", "symbol": "BTC/USDT",
                                           "timeframe": "1h", "cash": "10000"})
    assert response.status_code == 200
    assert "No active ML model for BTC/USDT 1h" in response.content.decode()
    assert not BacktestRun.objects.for_tenant(world.tenant_a).exists()


def test_the_page_queues_a_run_on_the_active_model(world, client, trained):
    register(world.tenant_a, trained, status=Status.ACTIVE)
    client.force_login(world.alice)
    response = client.post("/backtests/", {"strategy": "ml_signal", "symbol": "BTC/USDT",
                                           "timeframe": "1h", "cash": "10000"})
    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert response.status_code == 302 and response.url == f"/backtests/{run.pk}/"
    assert run.strategy == "ml_signal"


def test_the_api_answers_400_without_a_model_and_202_with_one(world, trained):
    api = world.client_with_key(world.control_key_a)
    body = {"strategy": "ml_signal", "symbol": "BTC/USDT", "timeframe": "1h",
            "config": dict(RANGE)}
    refused = api.post("/api/v1/backtests/", body, format="json")
    assert refused.status_code == 400, refused.content
    assert "No active ML model for BTC/USDT 1h" in refused.content.decode()
    register(world.tenant_a, trained, status=Status.ACTIVE)
    assert api.post("/api/v1/backtests/", body, format="json").status_code == 202


def test_the_report_marks_a_run_over_the_models_training_candles_as_in_sample(
        world, trained, client, django_capture_on_commit_callbacks):
    learned = {"train": ["2023-01-01T00:00:00Z", "2024-06-01T00:00:00Z"],
               "validation": ["2024-06-02T00:00:00Z", "2024-11-01T00:00:00Z"],
               "test": ["2024-11-02T00:00:00Z", "2024-12-31T23:00:00Z"]}
    model = register(world.tenant_a, trained, status=Status.ACTIVE, splits=learned)
    inside = _run(world, django_capture_on_commit_callbacks)
    after = _run(world, django_capture_on_commit_callbacks,
                 config={"start_ms": 1_730_600_000_000, "end_ms": 1_731_500_000_000})
    client.force_login(world.alice)
    assert 'data-field="in-sample"' in client.get(f"/backtests/{inside.pk}/").content.decode()
    assert "2024-11-01" in client.get(f"/backtests/{inside.pk}/").content.decode()
    assert 'data-field="in-sample"' not in client.get(f"/backtests/{after.pk}/").content.decode()
    assert after.report["ml_model"]["id"] == model.pk
