"""Training runs in a bounded subprocess: results, progress, determinism, and every way the
child can fail ends as a reason, never as a hung or crashed worker."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from mlmodels.networks import KINDS, Architecture, build_network, make_deterministic
from mlmodels.options import ARCHITECTURES
from mlmodels.runner import TrainingFailed, TrainingLimits, child_environment, run_trainer
from tests.mlmodels.conftest import quick_options, sample_candles, train_into

FAKE = "tests.mlmodels.fake_trainer"


def fake_job(tmp_path, mode: str):
    (tmp_path / "fake.json").write_text(json.dumps({"mode": mode}))
    return tmp_path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); its state says it is gone
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_crashing_trainer_fails_with_its_exception(tmp_path):
    events = []
    with pytest.raises(TrainingFailed) as failure:
        run_trainer(fake_job(tmp_path, "crash"), TrainingLimits(30, 1024), events.append,
                    module=FAKE)
    assert "crashed (exit code 1)" in failure.value.reason
    assert "ZeroDivisionError: the trainer divided by zero" in failure.value.reason
    assert events == [{"event": "start", "epochs": 5}]


def test_a_hanging_trainer_is_stopped_at_its_time_limit_with_its_children(tmp_path):
    events = []
    started = time.monotonic()
    with pytest.raises(TrainingFailed, match="past its 2 s time limit"):
        run_trainer(fake_job(tmp_path, "hang"), TrainingLimits(2, 1024), events.append,
                    module=FAKE)
    assert time.monotonic() - started < 10
    assert events and events[0]["epoch"] == 1  # progress streamed before the limit
    trainer_pid, sleeper_pid = json.loads((tmp_path / "pids.json").read_text())
    deadline = time.monotonic() + 5
    while (alive(trainer_pid) or alive(sleeper_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(trainer_pid) and not alive(sleeper_pid)


def test_a_trainer_past_its_memory_cap_fails_as_out_of_memory(tmp_path):
    with pytest.raises(TrainingFailed, match=r"ran out of memory \(limit 1024 MB\)"):
        run_trainer(fake_job(tmp_path, "oom"), TrainingLimits(30, 1024), module=FAKE)


def test_a_killed_trainer_names_the_signal(tmp_path):
    with pytest.raises(TrainingFailed, match="killed by SIGKILL; possibly out of memory"):
        run_trainer(fake_job(tmp_path, "killed"), TrainingLimits(30, 1024), module=FAKE)


def test_a_trainer_that_exits_without_a_result_fails(tmp_path):
    with pytest.raises(TrainingFailed, match="without writing its result"):
        run_trainer(fake_job(tmp_path, "silent"), TrainingLimits(30, 1024), module=FAKE)


def test_the_real_trainer_reports_bad_inputs_as_a_crash(tmp_path):
    (tmp_path / "job.json").write_text("{}")  # no dataset.npz
    with pytest.raises(TrainingFailed, match="crashed .*dataset.npz"):
        run_trainer(tmp_path, TrainingLimits(60, 2048))


def test_the_child_gets_no_secrets_from_the_worker(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/prod")
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    env = child_environment(threads=2)
    assert "DATABASE_URL" not in env and "SECRET_KEY" not in env
    assert env["OMP_NUM_THREADS"] == "2"


def test_training_streams_progress_and_stops_early_on_validation(trained):
    history = trained.training["history"]
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    assert trained.training["best_epoch"] == min(
        history, key=lambda row: row["validation_loss"])["epoch"]
    assert trained.metrics["test"]["samples"] > 50


def losses(result) -> list[tuple[float, float]]:
    return [(row["train_loss"], row["validation_loss"]) for row in result.training["history"]]


def test_the_same_seed_gives_the_same_model_and_metrics(tmp_path, candles, trained):
    again = train_into(tmp_path, candles, quick_options(), model_id=1)
    assert (tmp_path / "weights.pt").read_bytes() == (trained.directory / "weights.pt") \
        .read_bytes()
    assert again.metrics == trained.metrics
    assert losses(again) == losses(trained)


def test_the_seed_decides_the_initial_weights():
    arch = Architecture(kind="mlp", features=31, outputs=3, hidden=16)

    def initial(seed: int) -> torch.Tensor:
        make_deterministic(seed, threads=1)
        return build_network(arch).state_dict()["net.0.weight"]

    assert torch.equal(initial(3), initial(3))
    assert not torch.equal(initial(3), initial(4))


def test_a_small_lstm_trains_on_sequences(tmp_path):
    candles = sample_candles(1600)
    result = train_into(tmp_path, candles, quick_options(architecture="lstm", epochs=1,
                                                         sequence_length=8, hidden=8))
    assert result.model.spec.sequence_length == 8
    assert result.model.first_index() == 89 + 7
    probabilities = result.model.probabilities(candles)
    assert np.isnan(probabilities[:96]).all() and np.isfinite(probabilities[96:]).all()


def test_the_options_name_the_same_networks_as_torch_builds():
    assert ARCHITECTURES == KINDS
