"""How good a model is: prediction metrics per split and a backtest of ml_signal on test.

Every number is computed from probabilities that went through the live inference path
(candles -> features -> stored normaliser -> network), never from the training arrays, so
what the registry shows is what a bot would have done. Each metric comes with the naive
baseline a quant compares it to (majority class, predicting zero).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mlmodels.datasets import CLASSES, Dataset
from mlmodels.inference import LoadedModel
from trading.core.backtest import BacktestConfig, check_lookahead, run_fast
from trading.core.backtest.metrics import all_metrics
from trading.core.backtest.report import iso_times
from trading.core.candles import Candles
from trading.core.strategies.ml_signal import MlSignal

QUANTILES = (10, 50, 90, 99)
BACKTEST_KEYS = ("return_pct", "buy_hold_return_pct", "max_drawdown_pct", "sharpe", "sortino",
                 "trades", "win_rate_pct", "profit_factor", "exposure_pct", "fees_paid")


def classification_metrics(predicted: np.ndarray, actual: np.ndarray,
                           majority: int) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1, the confusion matrix, and the
    accuracy of always answering the training split's majority class."""
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (actual, predicted), 1)
    per_class = {}
    for index, name in enumerate(CLASSES):
        hits = confusion[index, index]
        precision = hits / confusion[:, index].sum() if confusion[:, index].sum() else 0.0
        recall = hits / confusion[index, :].sum() if confusion[index, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": float(precision), "recall": float(recall),
                           "f1": float(f1), "support": int(confusion[index, :].sum())}
    return {"samples": int(actual.shape[0]), "accuracy": float((predicted == actual).mean()),
            "f1_macro": float(np.mean([c["f1"] for c in per_class.values()])),
            "baseline_accuracy": float((actual == majority).mean()),
            "per_class": per_class, "confusion": confusion.tolist(),
            "confusion_axes": "rows actual, columns predicted: down, flat, up"}


def regression_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    """RMSE and MAE of the forward return, against predicting zero, plus hit rate."""
    error = predicted - actual
    return {"samples": int(actual.shape[0]), "rmse": float(np.sqrt(np.mean(error ** 2))),
            "mae": float(np.mean(np.abs(error))),
            "baseline_rmse": float(np.sqrt(np.mean(actual ** 2))),
            "directional_accuracy": float(np.mean(np.sign(predicted) == np.sign(actual)))}


def information_coefficient(score: np.ndarray, returns: np.ndarray) -> float | None:
    """Rank correlation of the model's score with the realised forward return."""
    if score.shape[0] < 3 or np.all(score == score[0]) or np.all(returns == returns[0]):
        return None
    ranks = [np.argsort(np.argsort(values)).astype(np.float64) for values in (score, returns)]
    return float(np.corrcoef(*ranks)[0, 1])


def split_metrics(model: LoadedModel, probabilities: np.ndarray, dataset: Dataset,
                  name: str) -> dict[str, Any]:
    """Prediction metrics of one split from probabilities indexed by candle."""
    split = dataset.splits[name]
    rows = probabilities[split.indices]
    score = rows[:, 0] - rows[:, 1]
    if model.label_kind == "regression":
        outputs = model.raw_outputs(split.inputs)[:, 0] * dataset.label_fit["return_std"]
        metrics = regression_metrics(outputs, split.returns)
    else:
        predicted = _classes_from_probabilities(rows)
        majority = int(np.bincount(dataset.splits["train"].targets, minlength=3).argmax())
        metrics = classification_metrics(predicted, split.targets, majority)
    metrics["information_coefficient"] = information_coefficient(score, split.returns)
    metrics["probability_quantiles"] = probability_quantiles(rows)
    return metrics


def probability_quantiles(rows: np.ndarray) -> dict[str, dict[str, float]]:
    """Where P(up) and P(down) usually lie: the guide for ml_signal's thresholds."""
    return {name: {f"p{q}": float(np.quantile(rows[:, column], q / 100)) for q in QUANTILES}
            for column, name in ((0, "up"), (1, "down"))}


def _classes_from_probabilities(rows: np.ndarray) -> np.ndarray:
    """down / flat / up, whichever is likeliest (flat takes what up and down leave)."""
    up, down = rows[:, 0], rows[:, 1]
    return np.column_stack([down, 1.0 - up - down, up]).argmax(axis=1)


def backtest_test_split(model: LoadedModel, candles: Candles, dataset: Dataset, *,
                  enter_probability: float, exit_probability: float) -> dict[str, Any]:
    """ml_signal on the test split (from its warm-up), with costs, and the lookahead check."""
    first, last = dataset.splits["test"].bounds()
    window = candles[first - model.first_index(): last + 1]
    config = BacktestConfig(strategy="ml_signal", params={
        "enter_probability": enter_probability, "exit_probability": exit_probability})
    resolved = replace(config.resolve(), strategy=MlSignal.with_predictor(model))
    result = run_fast(window, resolved)
    metrics = all_metrics(window, result, resolved.cash)
    lookahead = check_lookahead(resolved.strategy, window, resolved.params)
    summary = {key: metrics.get(key) for key in BACKTEST_KEYS}
    summary.update({
        "test_buy_hold_return_pct": float((candles.close[last] / candles.close[first] - 1) * 100),
        "period": iso_times(candles.timestamp[[first, last]]),
        "params": resolved.params, "fee": resolved.fee, "lookahead_ok": lookahead["ok"]})
    return summary


def _probabilities_from(model: LoadedModel, candles: Candles, first: int) -> np.ndarray:
    """Probabilities indexed like `candles`, computed only from candle `first` on (with its
    warm-up before it): the training split needs none, and features are window-local, so the
    values are those of the whole series."""
    start = max(first - model.first_index(), 0)
    out = np.full((len(candles), 2), np.nan)
    out[start:] = model.probabilities(candles[start:])
    return out


def evaluate(model: LoadedModel, candles: Candles, dataset: Dataset, *,
             enter_probability: float, exit_probability: float) -> dict[str, Any]:
    """Validation and test metrics plus the test-split backtest, ready for the registry."""
    probabilities = _probabilities_from(model, candles,
                                        int(dataset.splits["validation"].indices[0]))
    return {"label_kind": model.label_kind,
            "validation": split_metrics(model, probabilities, dataset, "validation"),
            "test": split_metrics(model, probabilities, dataset, "test"),
            "backtest": backtest_test_split(model, candles, dataset,
                                      enter_probability=enter_probability,
                                      exit_probability=exit_probability)}

