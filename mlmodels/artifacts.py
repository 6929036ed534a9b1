"""Where a model's files live: MEDIA_ROOT/models/<tenant id>/<model id>/, nothing shared.

A model directory holds `model.json` (everything needed to rebuild inputs and the network:
dataset spec, feature names, the train-fitted normaliser, label fit, architecture) and
`weights.pt` (the network's state dict). While a run trains, `job/` holds its inputs. The
SHA-256 of both artifact files is stored on the model row and checked on every load, so a
replaced or half-written file is refused instead of trading on it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from trading.core.candles import COLUMNS, Candles

ARTIFACT_FILES = ("model.json", "weights.pt")


def tenant_dir(tenant_id: int) -> Path:
    """The directory of one tenant's models."""
    return Path(settings.MEDIA_ROOT) / "models" / str(int(tenant_id))


def model_dir(tenant_id: int, model_id: int) -> Path:
    """The directory of one model (created on demand)."""
    path = tenant_dir(tenant_id) / str(int(model_id))
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_dir(tenant_id: int, model_id: int) -> Path:
    """Inputs of a training run in progress."""
    path = model_dir(tenant_id, model_id) / "job"
    path.mkdir(parents=True, exist_ok=True)
    return path


def relative(path: Path) -> str:
    """A path as stored in the database: relative to MEDIA_ROOT, so storage can move."""
    return path.relative_to(Path(settings.MEDIA_ROOT)).as_posix()


def absolute(stored: str) -> Path:
    """The absolute path of a stored relative path, refusing anything outside MEDIA_ROOT."""
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / stored).resolve()
    if root not in path.parents:
        raise ValueError(f"artifact path {stored!r} leaves MEDIA_ROOT")
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, allow_nan=False))
    os.replace(partial, path)


def digest(directory: Path) -> str:
    """SHA-256 over the artifact files, in a fixed order."""
    hasher = hashlib.sha256()
    for name in ARTIFACT_FILES:
        hasher.update(name.encode())
        hasher.update((directory / name).read_bytes())
    return hasher.hexdigest()


def remove_job(tenant_id: int, model_id: int) -> None:
    """Drop a finished run's inputs (the dataset can be large; the artifact stays)."""
    shutil.rmtree(tenant_dir(tenant_id) / str(int(model_id)) / "job", ignore_errors=True)


def save_candles(path: Path, candles: Candles) -> None:
    """A run's candles, kept in its job directory until the run ends."""
    np.savez(path, **{name: getattr(candles, name) for name in COLUMNS})


def load_candles(path: Path) -> Candles:
    with np.load(path) as data:
        return Candles(*(data[name] for name in COLUMNS))
