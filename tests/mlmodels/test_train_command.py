"""Training end to end: the CLI contract, the Celery task's service with live progress, a
crash or timeout ending as a failed model, walk-forward folds and scheduled retraining."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from mlmodels import artifacts, runner, selectors, services
from mlmodels.models import MLModel
from mlmodels.tasks import train_model_task
from tests.base import owner_actor
from tests.mlmodels.conftest import QUICK, register
from trading.core.candles import write_csv

Status = MLModel.Status


@pytest.fixture
def csv_path(tmp_path, candles):
    path = tmp_path / "btc-1h.csv"
    write_csv(path, candles)
    return path


def train_cli(*args: str) -> dict:
    out = io.StringIO()
    call_command("train_model", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_the_cli_trains_registers_and_prints_the_contract(world, csv_path):
    printed = train_cli("--tenant", "tenant-a", "--symbol", "BTC/USDT", "--timeframe", "1h",
                        "--data", str(csv_path), "--epochs", "1", "--seed", "3",
                        "--walk-forward", "2", "--promote")
    assert {"model_id", "version", "metrics", "splits", "normalization"} <= set(printed)
    assert printed["version"] == 1 and printed["status"] == Status.ACTIVE
    assert set(printed["splits"]) == {"train", "validation", "test"}
    assert printed["normalization"]["fit_on"] == "train"
    assert printed["normalization"]["fit_range"] == printed["splits"]["train"]
    test = printed["metrics"]["test"]
    assert {"accuracy", "f1_macro", "baseline_accuracy"} <= set(test)
    assert "return_pct" in printed["metrics"]["backtest"]
    folds = printed["walk_forward"]["folds"]
    assert [fold["fold"] for fold in folds] == [1, 2]
    assert folds[0]["splits"]["test"][1] < folds[1]["splits"]["test"][0]
    assert folds[1]["splits"]["train"][1] < folds[1]["splits"]["test"][0]
    model = MLModel.objects.get(pk=printed["model_id"])
    assert model.tenant == world.tenant_a and model.artifact_sha256
    assert model.data_source == str(csv_path.resolve())
    assert not (artifacts.model_dir(model.tenant_id, model.pk) / "job").exists()


@pytest.mark.parametrize("args, message", [
    (["--tenant", "nobody"], "No tenant with slug 'nobody'."),
    (["--data", "/nonexistent.csv"], "cannot open"),
    (["--epochs", "0"], "epochs must be a whole number from 1 to 1000"),
    (["--symbol", "BTC"], "Symbol must look like BTC/USDT"),
])
def test_bad_input_is_one_line_and_exit_code_2(world, csv_path, args, message):
    base = {"--tenant": "tenant-a", "--symbol": "BTC/USDT", "--timeframe": "1h",
            "--data": str(csv_path)}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError) as failure:
        call_command("train_model", *[part for pair in base.items() for part in pair],
                     "--json")
    assert failure.value.returncode == 2
    assert message in str(failure.value) and "\n" not in str(failure.value)
    assert not MLModel.objects.exists()


def test_the_command_line_prints_bad_input_on_stderr_and_exits_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1,2,3,4,x,5\n")
    done = subprocess.run(
        [sys.executable, "manage.py", "train_model", "--tenant", "t", "--symbol", "BTC/USDT",
         "--timeframe", "1h", "--data", str(bad), "--json"],
        capture_output=True, text=True, cwd=runner.PROJECT_ROOT, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1


def queued(world, candles, **changes) -> MLModel:
    return services.mlmodel_train(
        tenant=world.tenant_a, actor=owner_actor(world.tenant_a), symbol="BTC/USDT",
        timeframe="1h", candles=candles, options={**QUICK, "epochs": 2}, queue=False, **changes)


def test_the_task_trains_and_streams_progress_to_the_tenants_feed(world, candles,
                                                                   monkeypatch):
    events = []
    monkeypatch.setattr(services, "publish_now",
                        lambda tenant_id, kind, bot, data: events.append((tenant_id, kind, data)))

    def failing_folds(*args, **kwargs):
        raise runner.TrainingFailed("fold 1 ran out of memory")

    monkeypatch.setattr("mlmodels.pipeline.walk_forward", failing_folds)
    model = queued(world, candles, walk_forward_folds=2)
    train_model_task.delay(world.tenant_a.pk, model.pk)  # no pool here: runs in the caller
    model.refresh_from_db()
    assert model.status == Status.READY
    assert model.metrics["test"]["accuracy"] >= 0 and model.trained_at is not None
    # a failed walk-forward is reported without throwing the trained model away
    assert model.walk_forward == {"error": "Walk-forward stopped: fold 1 ran out of memory"}
    epochs = [data for tenant, kind, data in events if data.get("event") == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {(tenant, kind) for tenant, kind, _ in events} == {(world.tenant_a.pk, "training")}
    assert {"train_loss", "validation_loss", "model_id"} <= set(epochs[0])
    # a redelivered task finds the run finished and leaves it alone
    assert services.mlmodel_run_training(tenant_id=world.tenant_a.pk,
                                         model_id=model.pk).status == Status.READY


@pytest.mark.parametrize("mode, reason", [
    ("crash", "crashed (exit code 1)"),
    ("hang", "past its 1 s time limit"),
])
def test_a_crash_or_timeout_marks_the_run_failed_with_its_reason(world, candles, settings,
                                                                 monkeypatch, mode, reason):
    settings.AITRADER_ML_TRAIN_TIMEOUT_SECONDS = 1
    monkeypatch.setattr(runner, "TRAINER_MODULE", "tests.mlmodels.fake_trainer")
    model = queued(world, candles)
    job = artifacts.job_dir(world.tenant_a.pk, model.pk)
    (job / "fake.json").write_text(json.dumps({"mode": mode}))
    monkeypatch.setattr("mlmodels.pipeline.write_trainer_inputs", lambda *args: None)
    failed = services.mlmodel_run_training(tenant_id=world.tenant_a.pk, model_id=model.pk)
    assert failed.status == Status.FAILED and reason in failed.failure_reason
    assert not job.exists()  # inputs cleaned up; the worker carries on


def test_a_retrain_takes_the_newest_candles_of_its_source(world, trained, candles, tmp_path):
    path = tmp_path / "feed.csv"
    write_csv(path, candles[:2200])
    source = register(world.tenant_a, trained, data_source=str(path),
                      data_end_ts=int(candles.timestamp[2199]),
                      dataset={"candles": 2000}, retrain_every=timedelta(days=1),
                      options={**QUICK})
    stopped = services.mlmodel_retrain(tenant=world.tenant_a,
                                       actor=owner_actor(world.tenant_a), model_id=source.pk,
                                       queue=False)
    assert stopped.status == Status.FAILED and "data feed has stopped" in stopped.failure_reason
    write_csv(path, candles)
    retrain = services.mlmodel_retrain(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                       model_id=source.pk, queue=False)
    assert retrain.status == Status.TRAINING and retrain.retrained_from == source
    assert retrain.version == 3 and retrain.retrain_every == timedelta(days=1)
    assert retrain.data_end_ts == int(candles.timestamp[-1])
    assert retrain.dataset["candles"] == 2000


def test_due_retraining_is_found_once_per_interval(world, trained):
    now = timezone.now()
    due = register(world.tenant_a, trained, retrain_every=timedelta(days=1),
                   age=timedelta(days=2))
    register(world.tenant_b, trained, retrain_every=timedelta(days=7), age=timedelta(days=2))
    register(world.tenant_b, trained, symbol="ETH/USDT", age=timedelta(days=90))  # no schedule
    assert selectors.mlmodel_due_for_retraining(now=now) == [(world.tenant_a.pk, due.pk)]
    failed = register(world.tenant_a, trained, status=Status.FAILED, retrained_from=due)
    assert selectors.mlmodel_due_for_retraining(now=now) == []  # failed just now: wait
    MLModel.objects.filter(pk=failed.pk).update(created_at=now - timedelta(days=2))
    assert selectors.mlmodel_due_for_retraining(now=now) == [(world.tenant_a.pk, due.pk)]
    register(world.tenant_a, trained, status=Status.TRAINING)
    assert selectors.mlmodel_due_for_retraining(now=now) == []


def test_the_scheduler_records_a_retrain_that_cannot_run(world, trained):
    register(world.tenant_a, trained, retrain_every=timedelta(days=1), age=timedelta(days=2))
    (attempt_id,) = services.mlmodel_retrain_due()
    attempt = MLModel.objects.get(pk=attempt_id)
    assert attempt.status == Status.FAILED and attempt.version == 2
    assert "no data source" in attempt.failure_reason
