"""Celery entry points of the ML app: they take ids and call services.

Training runs in a subprocess started by the service, so a crash or a runaway there cannot
take the worker with it; the task's own time limit covers the model plus every walk-forward
fold, past which the run is failed by the next sweep.
"""
from __future__ import annotations

from celery import shared_task

from aitrader.jobs import BackgroundTask
from mlmodels import services
from mlmodels.datasets import WALK_FORWARD_MAX_FOLDS


@shared_task(base=BackgroundTask, acks_late=True, ignore_result=True,
             time_limit=services.run_time_limit(WALK_FORWARD_MAX_FOLDS) + 60,
             soft_time_limit=services.run_time_limit(WALK_FORWARD_MAX_FOLDS))
def train_model_task(tenant_id: int, model_id: int) -> str:
    """Train one queued model version (idempotent: a redelivery leaves a held run alone)."""
    return services.mlmodel_run_training(tenant_id=tenant_id, model_id=model_id).status


@shared_task(ignore_result=True)
def retrain_due_models() -> int:
    """Beat task: start due scheduled retrainings, fail runs whose worker vanished."""
    return len(services.mlmodel_retrain_due())


