"""What a training run can be asked for, validated before anything is trained.

Plain Python (no torch): the web process validates a request with it and stores it on the
model row; the worker rebuilds it with `TrainingOptions.from_dict(model.options)`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aitrader.errors import ValidationFailed
from mlmodels.datasets import HORIZON_BOUNDS, LABEL_KINDS, DatasetSpec, LabelSpec, SplitSpec
from mlmodels.features import DEFAULT_FEATURE_SET, get_feature_set

ARCHITECTURES = ("mlp", "lstm", "gru")  # mlmodels.networks.KINDS, named here without torch
DEFAULT_SEQUENCE_LENGTH = 16


@dataclass(frozen=True)
class TrainingOptions:
    """Everything a training run can be asked for; defaults suit an hourly series."""

    architecture: str = "mlp"
    epochs: int = 50
    seed: int = 0
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    sequence_length: int | None = None  # recurrent models only; default 16
    feature_set: str = DEFAULT_FEATURE_SET
    label: LabelSpec = field(default_factory=LabelSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    enter_probability: float = 0.4  # ml_signal thresholds of the test-split backtest
    exit_probability: float = 0.4

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingOptions:
        """From JSON (API body, CLI, a retrain): unknown keys refused, then validated."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationFailed(f"Unknown training option {unknown[0]!r}.", field=unknown[0])
        values = dict(data)
        if isinstance(values.get("label"), dict):
            values["label"] = _nested(LabelSpec, values["label"], "label")
        if isinstance(values.get("split"), dict):
            values["split"] = _nested(SplitSpec, values["split"], "split")
        return cls(**values).validated()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validated(self) -> TrainingOptions:
        """These options, or ValidationFailed naming the first bad one."""
        if self.architecture not in ARCHITECTURES:
            raise ValidationFailed(f"Model must be one of {', '.join(ARCHITECTURES)}, got "
                                   f"{self.architecture!r}.", field="architecture")
        for name, low, high in _INT_RANGES:
            _check_int(name, getattr(self, name), low, high)
        for name, low, high in _FLOAT_RANGES:
            _check_float(name, getattr(self, name), low, high)
        if self.sequence_length is not None:
            _check_int("sequence_length", self.sequence_length, 2, 256)
        get_feature_set(self.feature_set)
        self.label.validated()
        self.split.check()
        self.split.gap_for(self.label.horizon)
        return self

    def dataset_spec(self) -> DatasetSpec:
        """How candles become this run's samples (one row for an MLP, a window for RNNs)."""
        length = 1 if self.architecture == "mlp" else (self.sequence_length
                                                       or DEFAULT_SEQUENCE_LENGTH)
        return DatasetSpec(feature_set=self.feature_set, label=self.label, split=self.split,
                           sequence_length=length)


_INT_RANGES = (("epochs", 1, 1000), ("seed", 0, 2**31 - 1), ("batch_size", 8, 65536),
               ("patience", 1, 1000), ("hidden", 4, 1024), ("layers", 1, 4))
_FLOAT_RANGES = (("learning_rate", 1e-6, 1.0), ("weight_decay", 0.0, 1.0),
                 ("dropout", 0.0, 0.9), ("enter_probability", 0.0, 1.0),
                 ("exit_probability", 0.0, 1.0))


# Every bound a person can type, by option name: the API, the Models page's form and the CLI
# check against these (through `validated`), and the form renders them as min/max.
BOUNDS: dict[str, tuple[float, float]] = {
    **{name: (low, high) for name, low, high in _INT_RANGES + _FLOAT_RANGES},
    "horizon": HORIZON_BOUNDS}
__all__ = ["ARCHITECTURES", "BOUNDS", "DEFAULT_SEQUENCE_LENGTH", "LABEL_KINDS",
           "TrainingOptions"]


def _nested(kind: type, data: dict[str, Any], name: str) -> Any:
    try:
        return kind(**data)
    except TypeError:
        allowed = ", ".join(f.name for f in fields(kind))
        raise ValidationFailed(f"{name} accepts only: {allowed}.", field=name) from None


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}, got "
                               f"{value!r}.", field=name)


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not low <= float(value) <= high:
        raise ValidationFailed(f"{name} must be a number from {low:g} to {high:g}, got "
                               f"{value!r}.", field=name)
