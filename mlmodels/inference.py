"""Inference: a stored model turned back into P(up), P(down) for any candles, cached.

`load_model` rebuilds the network and the train-fitted normaliser from the artifact alone and
returns a LoadedModel, the Predictor that ml_signal calls. Live ticks and backtests go
through the very same `probabilities`: features from the candles, the stored normaliser, the
network in float64 (so a 300-candle tick and a million-candle backtest agree to ~1e-16 and a
threshold cannot flip between them).

Two caches keep a thousand bots on one model cheap: loaded models (per process, keyed by
model id and artifact digest) and predictions (keyed by model and a digest of the candles),
so every bot after the first on a candle gets the stored answer.
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmodels.artifacts import digest
from mlmodels.datasets import DOWN, UP, DatasetSpec, Normalizer, sequence_windows
from mlmodels.features import compute_features
from mlmodels.networks import Architecture, build_network
from trading.core.candles import COLUMNS, Candles

BATCH_ROWS = 8192
CACHE_CANDLES_UP_TO = 10_000  # live windows are cached; a whole backtest series is not
PREDICTION_CACHE_SIZE = 512
MODEL_CACHE_SIZE = 32


class ArtifactError(Exception):
    """A model's stored files are missing, unreadable or do not match their recorded digest."""


@dataclass
class LoadedModel:
    """A trained model ready to predict: the Predictor that ml_signal uses."""

    label: str
    meta: dict[str, Any]
    network: torch.nn.Module
    spec: DatasetSpec
    normalizer: Normalizer
    cache_key: tuple
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def first_index(self) -> int:
        return self.spec.first_index()

    @property
    def model_id(self) -> int:
        """The registry id it was loaded as (the first part of its cache key)."""
        return self.cache_key[0]

    @property
    def label_kind(self) -> str:
        return self.spec.label.kind

    def probabilities(self, candles: Candles) -> np.ndarray:
        """(n, 2): P(up), P(down) after each candle; NaN before the first full sample."""
        key = None
        if len(candles) <= CACHE_CANDLES_UP_TO:
            key = (self.cache_key, candles_digest(candles))
            cached = _predictions.get(key)
            if cached is not None:
                return cached
        result = self._compute(candles)
        if key is not None:
            result.setflags(write=False)  # shared between bots: nobody may change it
            _predictions.put(key, result)
        return result

    def _compute(self, candles: Candles) -> np.ndarray:
        out = np.full((len(candles), 2), np.nan)
        first = self.first_index()
        if len(candles) <= first:
            return out
        rows = self.normalizer.apply(compute_features(candles, self.spec.feature_set))
        indices = np.arange(first, len(candles))
        inputs = sequence_windows(rows, indices, self.spec.sequence_length)
        out[first:] = self.outputs_to_probabilities(self.raw_outputs(inputs))
        return out

    def raw_outputs(self, inputs: np.ndarray) -> np.ndarray:
        """The network's outputs (logits or scaled return) for prepared inputs, in float64."""
        chunks = []
        # One network per model is shared by threads; torch modules are not re-entrant in
        # eval bookkeeping, and the caches make contention rare.
        with self._lock, torch.no_grad():
            for start in range(0, inputs.shape[0], BATCH_ROWS):
                batch = torch.from_numpy(np.ascontiguousarray(inputs[start:start + BATCH_ROWS],
                                                              dtype=np.float64))
                chunks.append(self.network(batch).numpy())
        return np.concatenate(chunks) if chunks else np.empty((0, 1))

    def outputs_to_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """(rows, 2) P(up), P(down): softmax for classes; for a regression, the chance that
        the return is above / below zero given the validation error (a normal model)."""
        if self.label_kind == "regression":
            sigma = self.meta["calibration"]["sigma"]
            predicted = outputs[:, 0] * self.meta["label_fit"]["return_std"]
            up = 0.5 * (1.0 + _erf(predicted / (sigma * math.sqrt(2.0))))
            return np.column_stack([up, 1.0 - up])
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        return np.column_stack([probabilities[:, UP], probabilities[:, DOWN]])


def _erf(values: np.ndarray) -> np.ndarray:
    return torch.special.erf(torch.from_numpy(np.asarray(values, dtype=np.float64))).numpy()


def candles_digest(candles: Candles) -> bytes:
    """A digest of every column: the same candles from two exchanges differ here."""
    hasher = hashlib.blake2b(digest_size=16)
    for name in COLUMNS:
        hasher.update(np.ascontiguousarray(getattr(candles, name)).tobytes())
    return hasher.digest()


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_predictions = _LRU(PREDICTION_CACHE_SIZE)
_models = _LRU(MODEL_CACHE_SIZE)


def read_meta(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"model.json unreadable: {exc}") from None


def build_loaded_model(meta: dict[str, Any], state: dict[str, torch.Tensor], *,
                       cache_key: tuple) -> LoadedModel:
    """A LoadedModel from its description and weights (float64 for inference)."""
    network = build_network(Architecture.from_dict(meta["architecture"]))
    network.load_state_dict(state)
    network.double().eval()
    label = f"model #{meta['model_id']} v{meta['version']} ({meta['symbol']} {meta['timeframe']})"
    return LoadedModel(label=label, meta=meta, network=network,
                       spec=DatasetSpec.from_dict(meta["dataset"]),
                       normalizer=Normalizer.from_dict(meta["normalizer"]), cache_key=cache_key)


def load_model(directory: Path, *, expected_digest: str, model_id: int) -> LoadedModel:
    """The model stored in `directory`, from the process cache when already loaded.

    Raises ArtifactError when a file is missing or its digest is not `expected_digest`.
    """
    key = (model_id, expected_digest)
    cached = _models.get(key)
    if cached is not None:
        return cached
    try:
        actual = digest(directory)
    except OSError as exc:
        raise ArtifactError(f"artifact unreadable: {exc.strerror}") from None
    if actual != expected_digest:
        raise ArtifactError("artifact digest does not match the registry")
    state = torch.load(directory / "weights.pt", weights_only=True)
    model = build_loaded_model(read_meta(directory), state, cache_key=key)
    _models.put(key, model)
    return model


def forget_caches() -> None:
    """Drop loaded models and predictions (tests; a model's files replaced)."""
    _models.clear()
    _predictions.clear()
