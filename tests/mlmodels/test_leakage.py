"""Leakage: no feature reads a later candle, normalisation sees only the training split, and
splits are separated by at least the label horizon. Each check is shown to catch a leak."""
from __future__ import annotations

import numpy as np
import pytest

from aitrader.errors import ValidationFailed
from mlmodels import datasets
from mlmodels.datasets import (
    DatasetSpec,
    LabelSpec,
    Normalizer,
    SplitSpec,
    build_dataset,
    fold_indices,
)
from mlmodels.features import FEATURE_SETS, FeatureSet, compute_features
from tests.mlmodels.conftest import quick_options, sample_candles
from trading.core.candles import Candles


def perturbed_after(candles: Candles, index: int, seed: int = 1) -> Candles:
    """The same candles up to `index`; every later candle scaled wildly (still valid OHLCV)."""
    rng = np.random.default_rng(seed)
    scale = np.ones(len(candles))
    scale[index + 1:] = rng.uniform(0.3, 3.0, len(candles) - index - 1)
    volume = candles.volume.copy()
    volume[index + 1:] *= rng.uniform(0.0, 20.0, len(candles) - index - 1)
    return Candles(candles.timestamp, candles.open * scale, candles.high * scale,
                   candles.low * scale, candles.close * scale, volume)


def rows_unchanged_by_the_future(feature_set: str, candles: Candles, index: int) -> bool:
    before = compute_features(candles, feature_set)[: index + 1]
    after = compute_features(perturbed_after(candles, index), feature_set)[: index + 1]
    return np.array_equal(before, after, equal_nan=True)


@pytest.mark.parametrize("index", [120, 700, 1500])
def test_features_of_the_past_do_not_change_when_the_future_does(index):
    assert rows_unchanged_by_the_future("ohlcv_v1", sample_candles(1600), index)


def test_features_are_bit_identical_on_a_live_window_and_the_whole_series():
    candles = sample_candles(1600)
    full = compute_features(candles)
    live = compute_features(candles[1300:1600])  # what a tick over 300 candles computes
    assert np.array_equal(live[100:], full[1400:])


def test_the_future_check_catches_a_feature_that_peeks(monkeypatch):
    def peeking(candles: Candles) -> dict[str, np.ndarray]:
        return {"next_close": np.roll(candles.close, -1)}

    monkeypatch.setitem(FEATURE_SETS, "peeking", FeatureSet("peeking", "", 1, peeking))
    assert not rows_unchanged_by_the_future("peeking", sample_candles(400), 200)


def test_every_row_after_the_lookback_is_defined():
    candles = sample_candles(600)
    matrix = compute_features(candles)
    lookback = FEATURE_SETS["ohlcv_v1"].lookback
    assert np.isfinite(matrix[lookback - 1:]).all()
    assert np.isnan(matrix[lookback - 2]).any()


def test_normalisation_is_fitted_on_training_rows_only(monkeypatch):
    fitted = []
    original = Normalizer.fit.__func__

    def spy(cls, rows):
        fitted.append(rows.copy())
        return original(cls, rows)

    monkeypatch.setattr(Normalizer, "fit", classmethod(spy))
    candles = sample_candles()
    dataset = build_dataset(candles, quick_options().dataset_spec())
    raw = compute_features(candles)
    (rows,) = fitted
    assert np.array_equal(rows, raw[dataset.splits["train"].indices])


def test_normaliser_and_labels_ignore_validation_and_test_data():
    candles = sample_candles()
    spec = quick_options().dataset_spec()
    dataset = build_dataset(candles, spec)
    validation_start = int(dataset.splits["validation"].indices[0])
    changed = build_dataset(perturbed_after(candles, validation_start - 1), spec)
    assert np.array_equal(changed.normalizer.mean, dataset.normalizer.mean)
    assert np.array_equal(changed.normalizer.std, dataset.normalizer.std)
    assert changed.label_fit == dataset.label_fit
    # ...while a normaliser fitted on every row would have moved: the check has teeth.
    raw = compute_features(perturbed_after(candles, validation_start - 1))
    leaky = Normalizer.fit(raw[spec.first_index():])
    assert not np.allclose(leaky.mean, dataset.normalizer.mean)


def test_validation_and_test_are_scaled_with_the_training_statistics():
    candles = sample_candles()
    dataset = build_dataset(candles, quick_options().dataset_spec())
    raw = compute_features(candles)
    test = dataset.splits["test"]
    expected = np.clip((raw[test.indices] - dataset.normalizer.mean) / dataset.normalizer.std,
                       -datasets.CLIP_SIGMAS, datasets.CLIP_SIGMAS)
    assert np.allclose(test.inputs, expected, atol=1e-6)


@pytest.mark.parametrize("horizon, gap", [(1, None), (4, None), (6, 10), (24, 24)])
def test_splits_are_chronological_and_a_gap_of_at_least_the_horizon_apart(horizon, gap):
    spec = DatasetSpec(label=LabelSpec(horizon=horizon), split=SplitSpec(gap=gap))
    splits = build_dataset(sample_candles(), spec).splits
    for earlier, later in (("train", "validation"), ("validation", "test")):
        last_label_candle = splits[earlier].indices[-1] + horizon
        assert last_label_candle < splits[later].indices[0]
        assert splits[later].indices[0] - splits[earlier].indices[-1] - 1 >= (gap or horizon)


def test_a_gap_shorter_than_the_horizon_is_refused():
    spec = DatasetSpec(label=LabelSpec(horizon=8), split=SplitSpec(gap=3))
    with pytest.raises(ValidationFailed, match="at least the label horizon"):
        build_dataset(sample_candles(), spec)


def test_labels_past_the_end_of_the_data_are_never_used():
    candles = sample_candles()
    spec = DatasetSpec(label=LabelSpec(horizon=12))
    dataset = build_dataset(candles, spec)
    assert dataset.splits["test"].indices[-1] + 12 == len(candles) - 1
    assert np.isfinite(dataset.splits["test"].returns).all()


def test_too_little_data_names_the_split_that_is_short():
    with pytest.raises(ValidationFailed, match="Too few candles"):
        build_dataset(sample_candles(400), quick_options().dataset_spec())


def test_walk_forward_folds_train_only_on_the_past():
    candles = sample_candles(3000)
    spec = quick_options().dataset_spec()
    folds = fold_indices(candles, spec, 3, gap=4)
    assert len(folds) == 3
    for number, fold in enumerate(folds):
        assert fold["train"][-1] + 4 < fold["validation"][0]
        assert fold["validation"][-1] + 4 < fold["test"][0]
        if number:  # each fold's test block follows the previous one, windows expand
            assert fold["test"][0] > folds[number - 1]["test"][-1]
            assert len(fold["train"]) > len(folds[number - 1]["train"])
