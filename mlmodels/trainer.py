"""The training subprocess: `python -m mlmodels.trainer JOB_DIR --memory-mb N --cpu-seconds S`.

It reads pre-split, already normalised arrays (JOB_DIR/dataset.npz) and the job description
(JOB_DIR/job.json), trains with early stopping on the validation split, and writes the best
weights (weights.pt) and a summary (result.json). Progress goes to stdout as one JSON object
per line; errors go to stderr. It never touches the database, the network or any candle, so a
crash, a leak or a runaway loop here cannot take a worker down: the parent enforces the wall
clock, this process caps its own memory and CPU before loading torch.

Exit codes: 0 done, 1 error (traceback on stderr), 3 out of memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EXIT_ERROR, EXIT_OUT_OF_MEMORY = 1, 3
MIN_DELTA = 1e-4  # a validation loss must improve by this much to reset the patience


def limit_resources(memory_mb: int, cpu_seconds: int) -> None:
    """Cap this process's address space and CPU time (the parent also enforces wall time)."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def emit(event: str, **data: Any) -> None:
    """One progress line for the parent."""
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def _load(job_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    job = json.loads((job_dir / "job.json").read_text())
    with np.load(job_dir / "dataset.npz") as data:
        arrays = {name: data[name] for name in data.files}
    return job, arrays


def _loss_function(job: dict[str, Any], train_targets: np.ndarray):
    import torch
    from torch import nn

    if job["label_kind"] == "regression":
        return nn.HuberLoss(delta=2.0)  # returns have fat tails; Huber keeps crashes from ruling
    # Inverse class frequency on the training split, so "flat" cannot win by majority alone.
    counts = np.bincount(train_targets, minlength=3).astype(np.float64)
    weights = counts.sum() / np.maximum(counts, 1.0) / 3.0
    return nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))


def _tensors(job: dict[str, Any], arrays: dict[str, np.ndarray], split: str):
    import torch

    inputs = torch.from_numpy(np.ascontiguousarray(arrays[f"{split}_inputs"], dtype=np.float32))
    targets = arrays[f"{split}_targets"]
    if job["label_kind"] == "regression":
        return inputs, torch.from_numpy(targets.astype(np.float32)).unsqueeze(1)
    return inputs, torch.from_numpy(targets.astype(np.int64))


def _evaluate(network, loss_function, inputs, targets, batch_size: int) -> float:
    import torch

    network.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            batch = slice(start, start + batch_size)
            total += float(loss_function(network(inputs[batch]), targets[batch])) * \
                (min(start + batch_size, inputs.shape[0]) - start)
    return total / inputs.shape[0]


def _train_epoch(network, optimizer, loss_function, inputs, targets, batch_size: int,
                 generator) -> float:
    import torch

    network.train()
    order = torch.randperm(inputs.shape[0], generator=generator)
    total = 0.0
    for start in range(0, inputs.shape[0], batch_size):
        batch = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = loss_function(network(inputs[batch]), targets[batch])
        loss.backward()
        # Clipping keeps one violent candle from blowing the recurrent models up.
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        total += float(loss) * batch.shape[0]
    return total / inputs.shape[0]


def train(job_dir: Path) -> dict[str, Any]:
    """Train the job in `job_dir`; returns the summary also written to result.json."""
    import torch

    from mlmodels.networks import Architecture, build_network, make_deterministic

    job, arrays = _load(job_dir)
    settings = job["training"]
    make_deterministic(settings["seed"], settings["threads"])
    network = build_network(Architecture.from_dict(job["architecture"]))
    train_inputs, train_targets = _tensors(job, arrays, "train")
    validation_inputs, validation_targets = _tensors(job, arrays, "validation")
    loss_function = _loss_function(job, arrays["train_targets"])
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings["learning_rate"],
                                  weight_decay=settings["weight_decay"])
    generator = torch.Generator().manual_seed(settings["seed"])
    batch_size, epochs = settings["batch_size"], settings["epochs"]
    emit("start", epochs=epochs, train_samples=int(train_inputs.shape[0]),
         validation_samples=int(validation_inputs.shape[0]))
    best = {"loss": float("inf"), "epoch": 0, "state": None}
    history = []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(network, optimizer, loss_function, train_inputs, train_targets,
                                  batch_size, generator)
        validation_loss = _evaluate(network, loss_function, validation_inputs,
                                    validation_targets, 4096)
        if validation_loss < best["loss"] - MIN_DELTA:
            best = {"loss": validation_loss, "epoch": epoch,
                    "state": {k: v.detach().clone() for k, v in network.state_dict().items()}}
        row = {"epoch": epoch, "train_loss": train_loss, "validation_loss": validation_loss,
               "seconds": round(time.perf_counter() - started, 4)}
        history.append(row)
        emit("epoch", epochs=epochs, best_epoch=best["epoch"], **row)
        if epoch - best["epoch"] >= settings["patience"]:
            break
    if best["state"] is None:
        raise RuntimeError("the validation loss never became finite: training diverged")
    torch.save(best["state"], job_dir / "weights.pt")
    result = {"best_epoch": best["epoch"], "best_validation_loss": best["loss"],
              "epochs_run": len(history), "stopped_early": len(history) < epochs,
              "history": history}
    (job_dir / "result.json").write_text(json.dumps(result))
    emit("done", best_epoch=best["epoch"], epochs_run=len(history))
    return result


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlmodels.trainer")
    parser.add_argument("job_dir", type=Path)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    args = parser.parse_args(argv)
    limit_resources(args.memory_mb, args.cpu_seconds)
    try:
        train(args.job_dir)
    except BaseException as exc:  # report every failure as a reason, then exit non-zero
        if _out_of_memory(exc):
            sys.stderr.write(f"out of memory: the {args.memory_mb} MB limit was reached\n")
            return EXIT_OUT_OF_MEMORY
        import traceback

        traceback.print_exc()
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
