"""Labels, chronological splits and the train-only normaliser: candles in, model inputs out.

Three rules keep a model honest here:

* a label is the forward return over `horizon` candles after the sample's close, so a sample
  whose horizon runs past the data has no label and is dropped;
* splits are chronological (train, then validation, then test) with a gap of at least the
  horizon between them, so no training label overlaps a later split's labels;
* the normaliser (and the flat band of classification labels) is fitted on the training
  split alone and applied unchanged to validation, test and live candles.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aitrader.errors import ValidationFailed
from mlmodels.features import DEFAULT_FEATURE_SET, compute_features, get_feature_set
from trading.core.backtest.report import iso_times
from trading.core.candles import Candles

CLASSES = ("down", "flat", "up")  # class index order of every classification model
DOWN, FLAT, UP = 0, 1, 2
LABEL_KINDS = ("classification", "regression")
SPLIT_NAMES = ("train", "validation", "test")
MIN_SAMPLES = {"train": 200, "validation": 50, "test": 50}
HORIZON_BOUNDS = (1, 500)  # candles a label looks ahead
WALK_FORWARD_MAX_FOLDS = 10
# Inside each walk-forward fold's past: the share used for validation (early stopping).
WALK_FORWARD_VALIDATION_SHARE = 0.2
STD_FLOOR = 1e-12  # a constant column divides by 1 instead of by zero
CLIP_SIGMAS = 10.0  # a crash candle far outside training stays finite for the network


@dataclass(frozen=True)
class LabelSpec:
    """What a model predicts: up/down/flat over `horizon` candles, or the return itself.

    `flat_band` is the |return| below which a move counts as flat; None fits it on the
    training split so about a third of training samples are flat.
    """

    kind: str = "classification"
    horizon: int = 4
    flat_band: float | None = None

    def validated(self) -> LabelSpec:
        if self.kind not in LABEL_KINDS:
            raise ValidationFailed(f"Label kind must be one of {', '.join(LABEL_KINDS)}, got "
                                   f"{self.kind!r}.", field="label")
        low, high = HORIZON_BOUNDS
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int) \
                or not low <= self.horizon <= high:
            raise ValidationFailed(f"Label horizon must be a whole number of candles from {low} "
                                   f"to {high}.", field="horizon")
        if self.flat_band is not None and not 0 <= self.flat_band < 1:
            raise ValidationFailed("flat_band must be a fraction from 0 to 1.", field="flat_band")
        return self


@dataclass(frozen=True)
class SplitSpec:
    """Shares of the labelled samples for train and validation (test gets the rest), and the
    gap in candles between consecutive splits (None: the label horizon)."""

    train: float = 0.70
    validation: float = 0.15
    gap: int | None = None

    def gap_for(self, horizon: int) -> int:
        gap = horizon if self.gap is None else self.gap
        if gap < horizon:
            raise ValidationFailed(f"The gap between splits ({gap} candles) must be at least the "
                                   f"label horizon ({horizon}); otherwise training labels "
                                   f"overlap the validation period.", field="gap")
        return gap

    def check(self) -> None:
        if not (0 < self.train < 1 and 0 < self.validation < 1
                and self.train + self.validation < 1):
            raise ValidationFailed("Split shares must be positive and leave room for a test "
                                   "split (train + validation < 1).", field="split")


@dataclass(frozen=True)
class Normalizer:
    """Per-feature z-score fitted on training rows only; stored with the model."""

    mean: np.ndarray
    std: np.ndarray
    fit_rows: int

    @classmethod
    def fit(cls, rows: np.ndarray) -> Normalizer:
        """Fit on `rows` (the training split's feature rows, nothing else)."""
        mean = rows.mean(axis=0)
        std = rows.std(axis=0)
        return cls(mean=mean, std=np.where(std < STD_FLOOR, 1.0, std), fit_rows=rows.shape[0])

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Rows scaled with the training statistics; NaN rows (warm-up) stay NaN."""
        scaled = (rows - self.mean) / self.std
        return np.clip(scaled, -CLIP_SIGMAS, CLIP_SIGMAS)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "zscore", "mean": self.mean.tolist(), "std": self.std.tolist(),
                "fit_rows": self.fit_rows, "clip_sigmas": CLIP_SIGMAS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        return cls(mean=np.asarray(data["mean"], dtype=np.float64),
                   std=np.asarray(data["std"], dtype=np.float64), fit_rows=int(data["fit_rows"]))


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that turns candles into samples; stored with the model so live inference
    rebuilds exactly the same inputs."""

    feature_set: str = DEFAULT_FEATURE_SET
    label: LabelSpec = field(default_factory=LabelSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    sequence_length: int = 1  # > 1 for recurrent models: the last N feature rows per sample

    def first_index(self) -> int:
        """The first candle whose sample has every feature row it needs."""
        return get_feature_set(self.feature_set).lookback - 1 + self.sequence_length - 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        return cls(feature_set=data["feature_set"], label=LabelSpec(**data["label"]),
                   split=SplitSpec(**data["split"]), sequence_length=data["sequence_length"])


@dataclass(frozen=True)
class Split:
    """One chronological split: the candle indices of its samples and their arrays."""

    name: str
    indices: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    returns: np.ndarray  # the raw forward returns, for metrics and regression scaling

    def bounds(self) -> tuple[int, int]:
        return int(self.indices[0]), int(self.indices[-1])


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test samples plus what was fitted on train (normaliser, labels)."""

    spec: DatasetSpec
    feature_names: list[str]
    normalizer: Normalizer
    label_fit: dict[str, float]  # flat_band (classification) or return_std (regression)
    gap: int
    splits: dict[str, Split]

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits["train"].inputs.shape[1:])


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """log(close[i + horizon] / close[i]); NaN where the horizon runs past the data."""
    out = np.full(close.shape[0], np.nan)
    out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return out


def classify(returns: np.ndarray, flat_band: float) -> np.ndarray:
    """0 down, 1 flat, 2 up; a move within +-flat_band is flat."""
    labels = np.full(returns.shape[0], FLAT, dtype=np.int64)
    labels[returns > flat_band] = UP
    labels[returns < -flat_band] = DOWN
    return labels


def split_indices(first: int, last: int, spec: SplitSpec, gap: int) -> dict[str, np.ndarray]:
    """Candle indices of each split inside [first, last], in time order, `gap` apart."""
    spec.check()
    usable = last - first + 1 - 2 * gap
    train_end = first + int(usable * spec.train)
    validation_end = train_end + gap + int(usable * spec.validation)
    return split_at(first, train_end, validation_end, last, gap)


def split_at(first: int, train_end: int, validation_end: int, last: int,
             gap: int) -> dict[str, np.ndarray]:
    """Train [first, train_end), validation [train_end + gap, validation_end), test
    [validation_end + gap, last]: the last training label ends before validation begins."""
    indices = {"train": np.arange(first, train_end),
               "validation": np.arange(train_end + gap, validation_end),
               "test": np.arange(validation_end + gap, last + 1)}
    _check_sizes(indices)
    return indices


def _check_sizes(indices: dict[str, np.ndarray]) -> None:
    for name, needed in MIN_SAMPLES.items():
        if indices[name].shape[0] < needed:
            counts = ", ".join(f"{n} {i.shape[0]}" for n, i in indices.items())
            raise ValidationFailed(f"Too few candles: the {name} split needs at least {needed} "
                                   f"samples ({counts}); supply a longer history.", field="data")


def sequence_windows(rows: np.ndarray, indices: np.ndarray, length: int) -> np.ndarray:
    """Inputs of the samples at `indices`: the row itself (length 1) or the `length` rows
    ending at it, oldest first (recurrent models)."""
    if length == 1:
        return rows[indices]
    offsets = np.arange(-length + 1, 1)
    return rows[indices[:, None] + offsets[None, :]]


def labelled_range(candles: Candles, spec: DatasetSpec) -> tuple[int, int]:
    """First and last candle index that can be a sample (full features and a label)."""
    return spec.first_index(), len(candles) - 1 - spec.label.horizon


def build_dataset(candles: Candles, spec: DatasetSpec,
                  indices: dict[str, np.ndarray] | None = None) -> Dataset:
    """Features, labels, splits and the train-fitted normaliser for `candles`.

    `indices` gives the splits explicitly (walk-forward folds); by default they come from
    the spec's shares.
    """
    label = spec.label.validated()
    gap = spec.split.gap_for(label.horizon)
    raw = compute_features(candles, spec.feature_set)
    returns = forward_returns(candles.close, label.horizon)
    if indices is None:
        indices = split_indices(*labelled_range(candles, spec), spec.split, gap)
    # The only statistics of the data the model ever sees come from training rows; the rows a
    # training sample's window reaches back to are all at or before its own candle.
    normalizer = Normalizer.fit(raw[indices["train"]])
    scaled = normalizer.apply(raw)
    label_fit = fit_labels(label, returns[indices["train"]])
    splits = {name: Split(name, idx, sequence_windows(scaled, idx, spec.sequence_length)
                          .astype(np.float32), make_targets(label, label_fit, returns[idx]),
                          returns[idx])
              for name, idx in indices.items()}
    return Dataset(spec=spec, feature_names=get_feature_set(spec.feature_set).names(),
                   normalizer=normalizer, label_fit=label_fit, gap=gap, splits=splits)


def fit_labels(label: LabelSpec, train_returns: np.ndarray) -> dict[str, float]:
    """What the labels need from training data: the flat band, or the return scale."""
    if label.kind == "regression":
        return {"return_std": float(max(train_returns.std(), STD_FLOOR))}
    band = label.flat_band
    if band is None:
        band = float(np.quantile(np.abs(train_returns), 1 / 3))
    return {"flat_band": float(band)}


def make_targets(label: LabelSpec, label_fit: dict[str, float], returns: np.ndarray
                 ) -> np.ndarray:
    """Class indices (classification) or returns in units of the training std (regression)."""
    if label.kind == "regression":
        return (returns / label_fit["return_std"]).astype(np.float32)
    return classify(returns, label_fit["flat_band"])


def fold_indices(candles: Candles, spec: DatasetSpec, folds: int,
                 gap: int) -> list[dict[str, np.ndarray]]:
    """Expanding-window folds: fold k trains on blocks 0..k-1 (its last fifth validates) and
    tests on block k, so every test block lies after everything its model learned from."""
    if not 2 <= folds <= WALK_FORWARD_MAX_FOLDS:
        raise ValidationFailed(f"Walk-forward needs 2 to {WALK_FORWARD_MAX_FOLDS} folds.",
                               field="folds")
    first, last = labelled_range(candles, spec)
    block = (last - first + 1) // (folds + 1)
    result = []
    for fold in range(1, folds + 1):
        past_end = first + fold * block  # exclusive end of everything this fold learns from
        test_end = last if fold == folds else past_end + block - 1
        validation_count = int((past_end - first - gap) * WALK_FORWARD_VALIDATION_SHARE)
        train_end = past_end - gap - validation_count
        result.append(split_at(first, train_end, past_end, test_end, gap))
    return result


# --- a summary of the data a model learned from ------------------------------------------

def describe_splits(candles: Candles, dataset: Dataset) -> dict[str, list[str]]:
    """{"train": [first, last], ...} as ISO times of the candles each split's samples close."""
    return {name: iso_times(candles.timestamp[list(dataset.splits[name].bounds())])
            for name in SPLIT_NAMES}


def describe_normalization(candles: Candles, dataset: Dataset) -> dict[str, Any]:
    """What the normaliser saw (the training split, by time) and its statistics."""
    first, last = dataset.splits["train"].bounds()
    return {"fit_on": "train", "fit_range": iso_times(candles.timestamp[[first, last]]),
            "features": dataset.feature_names, **dataset.normalizer.to_dict()}


def describe_dataset(candles: Candles, dataset: Dataset) -> dict[str, Any]:
    """Sizes, gap, horizon and the label fit, for the registry and the CLI."""
    return {"candles": len(candles), "feature_set": dataset.spec.feature_set,
            "features": len(dataset.feature_names), "horizon": dataset.spec.label.horizon,
            "gap_candles": dataset.gap, "sequence_length": dataset.spec.sequence_length,
            "label": {"kind": dataset.spec.label.kind, **dataset.label_fit},
            "samples": {name: int(split.indices.shape[0])
                        for name, split in dataset.splits.items()},
            "class_balance": class_balance(dataset),
            "split_indices": {name: list(split.bounds())
                              for name, split in dataset.splits.items()}}


def class_balance(dataset: Dataset) -> dict[str, dict[str, float]] | None:
    """Share of down / flat / up labels per split (None for regression): a model that only
    learned the majority class shows here first."""
    if dataset.spec.label.kind != "classification":
        return None
    return {name: {label: float((split.targets == index).mean())
                   for index, label in enumerate(CLASSES)}
            for name, split in dataset.splits.items()}
