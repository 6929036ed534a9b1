"""A training run from candles to a stored, evaluated model, and walk-forward evaluation.

No ORM here: services hand in candles, options and directories and store what comes back.
The order of a run is fixed and is what makes it leak-free:

1. build the dataset (features, labels, chronological splits with gaps, normaliser fitted on
   train only) in this process;
2. hand only the train and validation arrays to the trainer subprocess;
3. store the weights with the dataset spec and the normaliser as one artifact;
4. load that artifact through the live inference path and measure validation and test
   (including a backtest of ml_signal on the test split).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmodels import artifacts
from mlmodels.datasets import (
    Dataset,
    build_dataset,
    describe_splits,
    fold_indices,
)
from mlmodels.evaluation import evaluate
from mlmodels.inference import LoadedModel, build_loaded_model, load_model
from mlmodels.networks import Architecture
from mlmodels.options import TrainingOptions
from mlmodels.runner import ProgressCallback, TrainingLimits, run_trainer
from trading.core.candles import Candles

FORMAT_VERSION = 1


def architecture_for(options: TrainingOptions, dataset: Dataset) -> Architecture:
    """The network the options ask for, sized to the dataset's inputs."""
    return Architecture(kind=options.architecture, features=len(dataset.feature_names),
                        outputs=1 if options.label.kind == "regression" else 3,
                        hidden=options.hidden, layers=options.layers, dropout=options.dropout,
                        sequence_length=dataset.spec.sequence_length)


# --- job files ----------------------------------------------------------------------------

def write_trainer_inputs(job_dir: Path, dataset: Dataset, options: TrainingOptions,
                         threads: int) -> None:
    """dataset.npz (train and validation only: test never reaches the trainer) and job.json."""
    np.savez(job_dir / "dataset.npz",
             **{f"{name}_{part}": getattr(dataset.splits[name], part)
                for name in ("train", "validation") for part in ("inputs", "targets")})
    job = {"label_kind": options.label.kind,
           "architecture": architecture_for(options, dataset).to_dict(),
           "training": {"epochs": options.epochs, "seed": options.seed,
                        "batch_size": options.batch_size,
                        "learning_rate": options.learning_rate,
                        "weight_decay": options.weight_decay, "patience": options.patience,
                        "threads": threads}}
    (job_dir / "job.json").write_text(json.dumps(job))


# --- one run --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainedModel:
    """What a finished run hands to the registry."""

    model: LoadedModel
    directory: Path  # where the artifact files are
    digest: str
    metrics: dict[str, Any]
    training: dict[str, Any]  # best epoch, epochs run, loss history


def model_meta(identity: dict[str, Any], dataset: Dataset,
               options: TrainingOptions) -> dict[str, Any]:
    """model.json: all that inference needs, next to the weights."""
    return {"format": FORMAT_VERSION, **identity, "dataset": dataset.spec.to_dict(),
            "feature_names": dataset.feature_names,
            "normalizer": dataset.normalizer.to_dict(), "label_fit": dataset.label_fit,
            "architecture": architecture_for(options, dataset).to_dict(), "calibration": {}}


def _calibrate(meta: dict[str, Any], state: dict[str, torch.Tensor], dataset: Dataset) -> None:
    """Regression: the validation RMSE, which turns a predicted return into P(up)."""
    if dataset.spec.label.kind != "regression":
        return
    model = build_loaded_model(meta, state, cache_key=("calibration",))
    validation = dataset.splits["validation"]
    predicted = model.raw_outputs(validation.inputs)[:, 0] * dataset.label_fit["return_std"]
    sigma = float(np.sqrt(np.mean((predicted - validation.returns) ** 2)))
    meta["calibration"] = {"sigma": max(sigma, 1e-9), "fit_on": "validation"}


def store_artifact(job_dir: Path, destination: Path, meta: dict[str, Any],
                   dataset: Dataset) -> str:
    """Move the trained weights and write model.json into `destination`; returns the digest."""
    state = torch.load(job_dir / "weights.pt", weights_only=True)
    _calibrate(meta, state, dataset)
    shutil.copyfile(job_dir / "weights.pt", destination / "weights.pt")
    artifacts.write_json(destination / "model.json", meta)
    return artifacts.digest(destination)


def train_and_evaluate(candles: Candles, options: TrainingOptions, *, job_dir: Path,
                       destination: Path, identity: dict[str, Any], limits: TrainingLimits,
                       on_progress: ProgressCallback | None = None,
                       dataset: Dataset | None = None) -> TrainedModel:
    """Train in a subprocess, store the artifact in `destination`, evaluate it from there.

    Raises runner.TrainingFailed when the subprocess fails or times out.
    """
    dataset = dataset or build_dataset(candles, options.dataset_spec())
    write_trainer_inputs(job_dir, dataset, options, limits.threads)
    training = run_trainer(job_dir, limits, on_progress)
    digest = store_artifact(job_dir, destination, model_meta(identity, dataset, options), dataset)
    model = load_model(destination, expected_digest=digest, model_id=identity["model_id"])
    metrics = evaluate(model, candles, dataset, enter_probability=options.enter_probability,
                       exit_probability=options.exit_probability)
    summary = {key: training[key]
               for key in ("best_epoch", "epochs_run", "stopped_early", "history")}
    return TrainedModel(model=model, directory=destination, digest=digest, metrics=metrics,
                        training=summary)


# --- walk-forward --------------------------------------------------------------------------

def walk_forward(candles: Candles, options: TrainingOptions, folds: int, *, workdir: Path,
                 limits: TrainingLimits, on_progress: ProgressCallback | None = None
                 ) -> dict[str, Any]:
    """Train and test one model per fold, each on its past only; a report per fold."""
    spec = options.dataset_spec()
    gap = spec.split.gap_for(spec.label.horizon)
    reports = []
    for number, indices in enumerate(fold_indices(candles, spec, folds, gap), start=1):
        fold_dir = workdir / f"fold-{number}"
        (fold_dir / "job").mkdir(parents=True, exist_ok=True)
        dataset = build_dataset(candles, spec, indices)
        trained = train_and_evaluate(
            candles, options, job_dir=fold_dir / "job", destination=fold_dir, dataset=dataset,
            identity={"model_id": f"fold-{number}", "version": 0, "symbol": "", "timeframe": ""},
            limits=limits, on_progress=_tagged(on_progress, fold=number, folds=folds))
        reports.append({"fold": number, "splits": describe_splits(candles, dataset),
                        "samples": {n: int(s.indices.shape[0])
                                    for n, s in dataset.splits.items()},
                        "test": trained.metrics["test"],
                        "backtest": trained.metrics["backtest"],
                        "best_epoch": trained.training["best_epoch"]})
    return {"folds": reports, "summary": summarize_folds(reports, options.label.kind)}


def _tagged(on_progress: ProgressCallback | None, **tags: Any) -> ProgressCallback | None:
    if on_progress is None:
        return None
    return lambda event: on_progress({**event, **tags})


def summarize_folds(reports: list[dict[str, Any]], label_kind: str) -> dict[str, Any]:
    """Mean and spread across folds of the headline figures, and how often the model beat
    its naive baseline and buy-and-hold."""
    returns = np.array([r["backtest"]["return_pct"] for r in reports], dtype=np.float64)
    holds = np.array([r["backtest"]["test_buy_hold_return_pct"] for r in reports])
    if label_kind == "regression":
        score = np.array([r["test"]["rmse"] for r in reports])
        beat = np.array([r["test"]["rmse"] < r["test"]["baseline_rmse"] for r in reports])
        headline = {"rmse_mean": float(score.mean()), "rmse_std": float(score.std())}
    else:
        score = np.array([r["test"]["accuracy"] for r in reports])
        beat = np.array([r["test"]["accuracy"] > r["test"]["baseline_accuracy"]
                         for r in reports])
        headline = {"accuracy_mean": float(score.mean()), "accuracy_std": float(score.std()),
                    "f1_macro_mean": float(np.mean([r["test"]["f1_macro"] for r in reports]))}
    return {**headline, "folds": len(reports), "beat_baseline_folds": int(beat.sum()),
            "backtest_return_pct_mean": float(returns.mean()),
            "backtest_return_pct_std": float(returns.std()),
            "beat_buy_hold_folds": int((returns > holds).sum())}
