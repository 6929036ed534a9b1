"""ml_signal: the same code and numbers in a backtest and on live ticks, the stored normaliser,
a bot's own tenant's models only, stale models refused with a reason, one inference per
candle however many bots share a model."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
import torch

from aitrader.errors import ValidationFailed
from mlmodels import artifacts, evaluation, resolver
from mlmodels.datasets import Normalizer
from mlmodels.features import compute_features
from mlmodels.inference import LoadedModel, load_model
from mlmodels.models import MLModel
from mlmodels.services import mlmodel_promote
from tests.base import owner_actor
from tests.mlmodels.conftest import register
from trading.core.backtest import BacktestConfig, check_lookahead, run_fast
from trading.core.backtest.run_paths import tick_signals
from trading.core.strategies import SignalUnavailable, StrategyScope, get_strategy
from trading.core.strategies.ml_signal import MlSignal

BTC_1H = ("BTC/USDT", "1h")
PARAMS = {"model_id": "active", "enter_probability": 0.36, "exit_probability": 0.36}


def scope_of(tenant, symbol="BTC/USDT", timeframe="1h") -> StrategyScope:
    return StrategyScope(tenant.pk, symbol, timeframe)


def bot_signal(tenant, candles, params=PARAMS, **scope) -> int:
    """What the engine computes for a bot (with the proposed scope argument)."""
    strategy = get_strategy("ml_signal", scope=scope_of(tenant, **scope))
    return int(strategy.signals(candles, params)[-1])


@pytest.fixture
def active(world, trained):
    model = register(world.tenant_a, trained)
    return mlmodel_promote(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                           model_id=model.pk)


def test_a_test_split_backtest_runs_and_trades(trained, candles, dataset):
    backtest = trained.metrics["backtest"]
    assert backtest["lookahead_ok"] is True
    assert backtest["period"][0] < backtest["period"][1]
    strategy = MlSignal.with_predictor(trained.model)
    first, last = dataset.splits["test"].bounds()
    window = candles[first - trained.model.first_index(): last + 1]
    config = replace(BacktestConfig(strategy="ml_signal", params=PARAMS).resolve(),
                     strategy=strategy)
    result = run_fast(window, config)
    assert result.trades.entry_index.shape[0] > 0  # the thresholds do trade on this data
    assert check_lookahead(strategy, window, config.params)["ok"]


def test_live_ticks_reproduce_the_backtest_signals(trained, candles):
    window = candles[1500:1800]
    strategy = MlSignal.with_predictor(trained.model)
    full = strategy.signals(window, PARAMS)
    assert np.array_equal(full, tick_signals(window, replace(
        BacktestConfig(strategy="ml_signal", params=PARAMS).resolve(), strategy=strategy)))
    assert not full[: trained.model.first_index()].any()
    assert np.count_nonzero(full) > 0


def test_inference_uses_the_stored_train_fitted_normaliser(trained, candles, dataset):
    stored = json.loads((trained.directory / "model.json").read_text())["normalizer"]
    assert stored["mean"] == dataset.normalizer.mean.tolist()
    assert stored["std"] == dataset.normalizer.std.tolist()
    model = trained.model
    # By hand: features -> stored normaliser -> network; ml_signal must give exactly this.
    rows = Normalizer.from_dict(stored).apply(compute_features(candles))[model.first_index():]
    with torch.no_grad():
        logits = model.network(torch.from_numpy(rows)).numpy()
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(model.probabilities(candles)[model.first_index():, 0],
                       probabilities[:, 2], atol=1e-12)
    # A normaliser refitted on all the data (the seed's leak) would change the predictions.
    leaky = Normalizer.fit(compute_features(candles)[model.first_index():])
    leaky_model = LoadedModel(model.label, model.meta, model.network, model.spec, leaky,
                              ("leaky",))
    assert not np.allclose(leaky_model.probabilities(candles)[model.first_index():],
                           model.probabilities(candles)[model.first_index():])


def test_a_bot_follows_its_tenants_active_model(world, active, candles):
    predictor = resolver.resolve(scope_of(world.tenant_a), 0)
    assert predictor.label.startswith("model #1 v1")  # the artifact's own identity
    assert bot_signal(world.tenant_a, candles[:1800]) in (-1, 0, 1)


def test_a_bot_cannot_follow_another_tenants_model(world, active, candles):
    with pytest.raises(SignalUnavailable, match=f"ML model #{active.pk} was not found"):
        bot_signal(world.tenant_b, candles, {**PARAMS, "model_id": active.pk})
    with pytest.raises(SignalUnavailable, match="No active ML model for BTC/USDT 1h"):
        bot_signal(world.tenant_b, candles)


def test_bots_of_different_tenants_never_share_a_strategy_class(world):
    mine = get_strategy("ml_signal", scope=scope_of(world.tenant_a))
    again = get_strategy("ml_signal", scope=scope_of(world.tenant_a))
    theirs = get_strategy("ml_signal", scope=scope_of(world.tenant_b))
    assert mine is again and mine is not theirs
    assert get_strategy("sma_cross", scope=scope_of(world.tenant_a)) is get_strategy("sma_cross")


def test_a_stale_model_is_not_used_and_the_reason_says_so(world, trained, candles):
    model = register(world.tenant_a, trained, status=MLModel.Status.ACTIVE,
                     age=timedelta(days=45), max_age=timedelta(days=30))
    with pytest.raises(SignalUnavailable) as refusal:
        bot_signal(world.tenant_a, candles)
    assert f"ML model #{model.pk} v1 is 45 days old, past its staleness limit of 30 days" \
        in refusal.value.message
    MLModel.objects.filter(pk=model.pk).update(max_age=None)  # no limit: never stale
    resolver.forget_resolutions()
    assert bot_signal(world.tenant_a, candles[:1800]) in (-1, 0, 1)


def test_a_model_for_another_market_or_retired_is_refused(world, trained, candles):
    eth = register(world.tenant_a, trained, symbol="ETH/USDT")
    retired = register(world.tenant_a, trained, status=MLModel.Status.RETIRED)
    with pytest.raises(SignalUnavailable, match="trained on ETH/USDT 1h, not BTC/USDT 1h"):
        bot_signal(world.tenant_a, candles, {**PARAMS, "model_id": eth.pk})
    with pytest.raises(SignalUnavailable, match="is retired"):
        bot_signal(world.tenant_a, candles, {**PARAMS, "model_id": retired.pk})


def test_a_tampered_artifact_is_refused(world, trained, candles):
    model = register(world.tenant_a, trained, status=MLModel.Status.ACTIVE)
    path = artifacts.absolute(model.artifact_path) / "model.json"  # the registered copy
    meta = json.loads(path.read_text())
    meta["normalizer"]["mean"][0] += 1.0
    path.write_text(json.dumps(meta))
    with pytest.raises(SignalUnavailable, match="digest does not match"):
        bot_signal(world.tenant_a, candles)


def test_a_thousand_bots_on_one_model_run_inference_once_per_candle(world, active, candles,
                                                                     monkeypatch):
    calls = []
    original = LoadedModel._compute

    def counting(self, window):
        calls.append(len(window))
        return original(self, window)

    monkeypatch.setattr(LoadedModel, "_compute", counting)
    window = candles[1500:1800]
    signals = {bot_signal(world.tenant_a, window,
                          {**PARAMS, "enter_probability": 0.3 + (bot % 10) / 100})
               for bot in range(1000)}
    assert calls == [300]
    assert signals <= {-1, 0, 1}
    bot_signal(world.tenant_a, candles[1501:1801])  # the next candle: computed once more
    assert calls == [300, 300]


def test_promoting_another_model_switches_bots_at_once(world, trained, active, candles):
    newer = register(world.tenant_a, trained)
    assert resolver.resolve(scope_of(world.tenant_a), 0).cache_key[0] == active.pk
    mlmodel_promote(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), model_id=newer.pk)
    resolver.forget_resolutions()  # on_commit does this; the test transaction never commits
    assert resolver.resolve(scope_of(world.tenant_a), 0).cache_key[0] == newer.pk


def test_ml_signal_without_a_scope_explains_itself(candles):
    with pytest.raises(ValidationFailed, match="follows a tenant's model"):
        get_strategy("ml_signal").signals(candles[:200], {})


def test_parameters_accept_active_and_ids():
    assert MlSignal.validate_params({"model_id": "active"})["model_id"] == 0
    assert MlSignal.validate_params({"model_id": "12"})["model_id"] == 12
    with pytest.raises(ValidationFailed):
        MlSignal.validate_params({"model_id": "latest"})


def test_loading_checks_the_digest(trained):
    with pytest.raises(Exception, match="digest"):
        load_model(trained.directory, expected_digest="0" * 64, model_id=99)


def test_evaluation_from_validation_on_matches_the_whole_series(trained, candles, dataset):
    start = int(dataset.splits["validation"].indices[0])
    partial = evaluation._probabilities_from(trained.model, candles, start)
    full = trained.model.probabilities(candles)
    assert np.isnan(partial[: start - trained.model.first_index()]).all()
    assert np.allclose(partial[start:], full[start:], rtol=0, atol=1e-12)
