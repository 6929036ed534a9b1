"""ML benchmark: training time per epoch on 100k samples, inference per candle for 1 and 1,000
bots sharing a model.

Training goes through the real path (dataset with train-only normalisation, the trainer
subprocess with its limits); the per-epoch time is measured inside the trainer, the wall time
includes starting the subprocess and importing torch. Inference goes through ml_signal exactly
as a live tick calls it: a 300-candle window (the engine's CANDLE_LIMIT), a new candle each
time, so the first bot on a candle computes and the others read the per-candle cache.

    python bench/ml.py [--samples 100000] [--epochs 3] [--candles 200] [--threads 1 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitrader.settings.test")

import django  # noqa: E402

django.setup()

from mlmodels.datasets import build_dataset  # noqa: E402
from mlmodels.inference import LoadedModel  # noqa: E402
from mlmodels.options import TrainingOptions  # noqa: E402
from mlmodels.pipeline import train_and_evaluate  # noqa: E402
from mlmodels.runner import TrainingLimits  # noqa: E402
from trading.core.strategies.ml_signal import MlSignal  # noqa: E402
from trading.marketdata import CANDLE_LIMIT  # noqa: E402
from trading.sampledata import generate  # noqa: E402

START_MS = 1_600_000_000_000
TRAIN_SHARE = 0.7


def candles_for(samples: int):
    """Enough hourly candles that the training split holds `samples` samples."""
    return generate("BTC/USDT", "1h", int(samples / TRAIN_SHARE) + 400, 11, START_MS)


def train_once(candles, architecture: str, epochs: int, threads: int, workdir: Path) -> dict:
    """One real training run; returns seconds per epoch, wall time and the loaded model."""
    options = TrainingOptions.from_dict({"architecture": architecture, "epochs": epochs,
                                         "patience": epochs, "batch_size": 256})
    dataset = build_dataset(candles, options.dataset_spec())
    (workdir / "job").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    trained = train_and_evaluate(
        candles, options, job_dir=workdir / "job", destination=workdir, dataset=dataset,
        identity={"model_id": f"bench-{architecture}-{threads}", "version": 1,
                  "symbol": "BTC/USDT", "timeframe": "1h"},
        limits=TrainingLimits(timeout_seconds=3600, memory_mb=8192, threads=threads))
    wall = time.perf_counter() - started
    epochs_run = [row["seconds"] for row in trained.training["history"]]
    return {"samples": int(dataset.splits["train"].indices.shape[0]),
            "epoch_s": statistics.median(epochs_run), "wall_s": wall, "model": trained.model}


def inference(model: LoadedModel, candles, bots: int, count: int) -> dict:
    """Per new candle: `bots` bound-strategy calls on the live window; the first computes."""
    strategy = MlSignal.with_predictor(model)
    params = [strategy.validate_params({"enter_probability": 0.30 + (bot % 10) / 100})
              for bot in range(bots)]
    per_candle = []
    first = len(candles) - count - CANDLE_LIMIT
    for offset in range(count):
        window = candles[first + offset: first + offset + CANDLE_LIMIT]
        started = time.perf_counter()
        for values in params:
            strategy.signals(window, values)[-1]
        per_candle.append(time.perf_counter() - started)
    per_candle.sort()
    return {"median_ms": statistics.median(per_candle) * 1e3,
            "p99_ms": per_candle[int(len(per_candle) * 0.99) - 1] * 1e3,
            "per_bot_us": statistics.median(per_candle) / bots * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--candles", type=int, default=200, help="candles timed for inference")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from _machine import machine_summary

    print(f"machine: {machine_summary()}")
    import torch

    print(f"torch {torch.__version__}, intra-op threads available {torch.get_num_threads()}")
    candles = candles_for(args.samples)
    models = {}
    print(f"\ntraining, {args.epochs} epochs, batch 256 (median epoch; wall includes the "
          f"subprocess start and evaluation)")
    for architecture in ("mlp", "lstm"):
        for threads in args.threads:
            with tempfile.TemporaryDirectory() as workdir:
                result = train_once(candles, architecture, args.epochs, threads, Path(workdir))
            models.setdefault(architecture, result["model"])
            print(f"  {architecture:<4} {threads} thread(s): {result['samples']:,} samples, "
                  f"{result['epoch_s']:.2f} s/epoch, run {result['wall_s']:.1f} s")
    torch.set_num_threads(1)  # as live inference runs (AITRADER_ML_INFERENCE_THREADS)
    print(f"\ninference per candle on a {CANDLE_LIMIT}-candle live window, 1 thread")
    for architecture, model in models.items():
        for bots in (1, 1000):
            figures = inference(model, candles, bots, args.candles)
            print(f"  {architecture:<4} {bots:>5} bot(s): median {figures['median_ms']:.2f} ms "
                  f"per candle (p99 {figures['p99_ms']:.2f} ms), "
                  f"{figures['per_bot_us']:.1f} us per bot")


if __name__ == "__main__":
    main()
