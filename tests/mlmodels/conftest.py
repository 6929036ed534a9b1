"""ML fixtures: small candles, quick training options, one trained artifact per session.

Training is real (the trainer subprocess, torch), only small: 2,400 hourly candles and a few
epochs, so the whole folder stays well under a minute.
"""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from mlmodels import artifacts
from mlmodels.datasets import build_dataset
from mlmodels.inference import forget_caches
from mlmodels.models import MLModel
from mlmodels.options import TrainingOptions
from mlmodels.pipeline import TrainedModel, train_and_evaluate
from mlmodels.resolver import forget_resolutions
from mlmodels.runner import TrainingLimits
from trading.core.candles import Candles
from trading.sampledata import generate

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
QUICK = {"epochs": 3, "hidden": 16, "patience": 2, "batch_size": 128}
LIMITS = TrainingLimits(timeout_seconds=120, memory_mb=2048, threads=1)


def sample_candles(count: int = 2400, seed: int = 5) -> Candles:
    return generate("BTC/USDT", "1h", count, seed, START_MS)


def quick_options(**changes) -> TrainingOptions:
    return TrainingOptions.from_dict({**QUICK, **changes})


def train_into(directory: Path, candles: Candles, options: TrainingOptions,
               model_id: int | str = 1) -> TrainedModel:
    """A real training run (subprocess) whose artifact lands in `directory`."""
    (directory / "job").mkdir(parents=True, exist_ok=True)
    return train_and_evaluate(
        candles, options, job_dir=directory / "job", destination=directory, limits=LIMITS,
        identity={"model_id": model_id, "version": 1, "symbol": "BTC/USDT", "timeframe": "1h"})


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _media_and_caches(settings, media_root):
    """Every ML test writes under a temporary MEDIA_ROOT and starts with empty caches."""
    settings.MEDIA_ROOT = media_root
    forget_caches()
    forget_resolutions()
    yield
    forget_caches()
    forget_resolutions()


@pytest.fixture(scope="session")
def candles() -> Candles:
    return sample_candles()


@pytest.fixture(scope="session")
def trained(tmp_path_factory, candles) -> TrainedModel:
    """One MLP trained for real, shared by the tests that only read it."""
    return train_into(tmp_path_factory.mktemp("trained"), candles, quick_options())


@pytest.fixture(scope="session")
def dataset(candles):
    return build_dataset(candles, quick_options().dataset_spec())


def register(tenant, trained: TrainedModel, *, status=MLModel.Status.READY, symbol="BTC/USDT",
             timeframe="1h", age: timedelta = timedelta(hours=1), **fields) -> MLModel:
    """A registry row of `tenant` carrying a copy of the trained artifact."""
    version = MLModel.objects.for_tenant(tenant).filter(symbol=symbol, timeframe=timeframe) \
        .count() + 1
    model = MLModel.objects.create(
        tenant=tenant, symbol=symbol, timeframe=timeframe, version=version,
        feature_set="ohlcv_v1", status=status, trained_at=timezone.now() - age, **fields)
    directory = artifacts.model_dir(tenant.pk, model.pk)
    for name in artifacts.ARTIFACT_FILES:
        shutil.copyfile(trained.directory / name, directory / name)
    model.artifact_path = artifacts.relative(directory)
    model.artifact_sha256 = artifacts.digest(directory)
    model.save(update_fields=["artifact_path", "artifact_sha256"])
    return model
