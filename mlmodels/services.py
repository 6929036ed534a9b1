"""Writes of the model registry: train, run a training, promote, retire, schedule, retrain.

Every surface (API, dashboard, admin, CLI, Celery) calls these. Training is split in two:
`mlmodel_train` validates the request, builds the dataset (so a bad request fails at once),
stores the candles and queues a Celery task; the task calls `mlmodel_run_training`, which
trains in a subprocess and leaves the model ready or failed with its reason, never in between.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from aitrader.errors import Conflict, ServiceError, ValidationFailed
from mlmodels import artifacts, selectors
from mlmodels.datasets import (
    Dataset,
    build_dataset,
    describe_dataset,
    describe_normalization,
    describe_splits,
    fold_indices,
)
from mlmodels.models import DEFAULT_MAX_AGE, MLModel
from mlmodels.options import TrainingOptions
from mlmodels.runner import TrainingFailed, TrainingLimits
from tenants.actors import Actor
from tenants.events import publish_now, publish_on_commit
from tenants.models import Scope, Tenant
from tenants.services import audit_record
from trading.core.candles import CandleFileError, Candles, load_csv
from trading.core.timeframes import timeframe_ms

if TYPE_CHECKING:
    from mlmodels.pipeline import TrainedModel

logger = logging.getLogger(__name__)

Status = MLModel.Status
VERSION_ATTEMPTS = 5
MIN_SCHEDULE = timedelta(hours=1)
MAX_SCHEDULE = timedelta(days=365)
UNSTARTED_LIMIT = timedelta(days=1)
FAILURE_REASON_LENGTH = 500


# --- training --------------------------------------------------------------------------------

def mlmodel_train(*, tenant: Tenant, actor: Actor, symbol: str, timeframe: str,
                  candles: Candles, options: TrainingOptions | dict[str, Any] | None = None,
                  data_source: str = "", walk_forward_folds: int = 0,
                  max_age: timedelta | None = DEFAULT_MAX_AGE,
                  retrain_every: timedelta | None = None, retrain_auto_promote: bool = False,
                  retrained_from: MLModel | None = None, queue: bool = True) -> MLModel:
    """Register a new model version of (symbol, timeframe) and queue its training.

    The request is checked now (options, data long enough for every split and fold); the
    model row starts in `training`. With queue=False the caller runs `mlmodel_run_training`
    itself (the CLI does, to print the result).
    """
    actor.require(Scope.CONTROL)
    symbol, timeframe = _market(symbol, timeframe)
    options = _options(options)
    _check_schedule(retrain_every=retrain_every, max_age=max_age)
    dataset = build_dataset(candles, options.dataset_spec())
    if walk_forward_folds:
        fold_indices(candles, dataset.spec, walk_forward_folds, dataset.gap)
    with transaction.atomic():
        model = _create_version(
            tenant=tenant, actor=actor, symbol=symbol, timeframe=timeframe, options=options,
            fields=_dataset_fields(candles, dataset) | {
                "data_source": data_source[:500], "walk_forward_folds": walk_forward_folds,
                "max_age": max_age, "retrain_every": retrain_every,
                "retrain_auto_promote": retrain_auto_promote, "retrained_from": retrained_from})
        artifacts.save_candles(artifacts.job_dir(tenant.pk, model.pk) / "candles.npz", candles)
        audit_record(tenant=tenant, actor=actor, action="mlmodel.train", target=str(model),
                     details={"model_id": model.pk, "architecture": options.architecture,
                              "candles": len(candles), "data_source": data_source[:200]})
        _publish(model)
        if queue:
            _queue_training(model)
    return model


def mlmodel_train_stored(*, tenant: Tenant, actor: Actor, symbol: str, timeframe: str,
                         options: TrainingOptions | dict[str, Any] | None = None,
                         walk_forward_folds: int = 0) -> MLModel:
    """Train a new version on the stored history of the market (what the Models page and
    `POST /api/v1/models/` do): as `mlmodel_train`, queued, its data source recorded as
    `stored:<symbol>:<timeframe>`."""
    # trading.services, not trading.core: stored history is the backtests' service read.
    from trading.services.backtests import stored_candles

    actor.require(Scope.CONTROL)  # before touching any file: a viewer learns nothing more
    symbol, timeframe = _market(symbol, timeframe)
    candles = stored_candles(symbol=symbol, timeframe=timeframe)
    return mlmodel_train(tenant=tenant, actor=actor, symbol=symbol, timeframe=timeframe,
                         candles=candles, options=options,
                         data_source=f"stored:{symbol}:{timeframe}",
                         walk_forward_folds=walk_forward_folds)


def _market(symbol: str, timeframe: str) -> tuple[str, str]:
    symbol = (symbol or "").strip().upper()
    base, slash, quote = symbol.partition("/")
    if not (slash and base and quote) or len(symbol) > 30:
        raise ValidationFailed(f"Symbol must look like BTC/USDT, got {symbol!r}.",
                               field="symbol")
    timeframe_ms(timeframe)  # ValidationFailed naming the supported timeframes
    return symbol, timeframe


def _options(options: TrainingOptions | dict[str, Any] | None) -> TrainingOptions:
    if isinstance(options, TrainingOptions):
        return options.validated()
    return TrainingOptions.from_dict(options or {})


def _dataset_fields(candles: Candles, dataset: Dataset) -> dict[str, Any]:
    return {"feature_set": dataset.spec.feature_set,
            "label": {"kind": dataset.spec.label.kind, "horizon": dataset.spec.label.horizon,
                      **dataset.label_fit},
            "dataset": describe_dataset(candles, dataset),
            "splits": describe_splits(candles, dataset),
            "normalization": describe_normalization(candles, dataset),
            "data_end_ts": int(candles.timestamp[-1])}


def _create_version(*, tenant: Tenant, actor: Actor, symbol: str, timeframe: str,
                    options: TrainingOptions, fields: dict[str, Any]) -> MLModel:
    """A new row with the next version of its market; a concurrent twin just retries."""
    for _attempt in range(VERSION_ATTEMPTS):
        version = selectors.mlmodel_latest_version(tenant=tenant, symbol=symbol,
                                                   timeframe=timeframe) + 1
        try:
            with transaction.atomic():
                return MLModel.objects.create(
                    tenant=tenant, symbol=symbol, timeframe=timeframe, version=version,
                    architecture=options.architecture, options=options.to_dict(),
                    created_by=actor.user, **fields)
        except IntegrityError:
            continue
    raise Conflict("Another training of this market is being registered; try again.")


def _queue_training(model: MLModel) -> None:
    # Imported here, the one exception to "services import tasks": mlmodels.tasks needs
    # run_time_limit from this module at import time (its Celery time limits), so it imports
    # this module at the top.
    from mlmodels.tasks import train_model_task

    tenant_id, model_id = model.tenant_id, model.pk
    transaction.on_commit(lambda: train_model_task.delay(tenant_id, model_id))


def training_limits() -> TrainingLimits:
    """The subprocess limits from settings."""
    return TrainingLimits(timeout_seconds=float(settings.AITRADER_ML_TRAIN_TIMEOUT_SECONDS),
                          memory_mb=settings.AITRADER_ML_TRAIN_MEMORY_MB,
                          threads=settings.AITRADER_ML_TRAIN_THREADS)


def mlmodel_run_training(*, tenant_id: int, model_id: int,
                         on_progress: Callable[[dict[str, Any]], None] | None = None) -> MLModel:
    """Carry out a queued training: subprocess, artifact, evaluation, walk-forward; the model
    ends ready (with metrics) or failed (with the reason). Safe to redeliver: a run another
    worker holds, or one already finished, is left alone. Progress goes to the tenant's live
    feed, and to `on_progress` when given (the CLI prints it)."""
    model = selectors.mlmodel_get(tenant=tenant_id, model_id=model_id)
    if model.status != Status.TRAINING or not _claim(model):
        return model
    try:
        outcome = _train(model, _progress_reporter(model, on_progress))
    except TrainingFailed as exc:
        return _fail(model, exc.reason)
    except ServiceError as exc:
        return _fail(model, exc.message)
    except Exception as exc:  # any failure must end the run, with its reason
        logger.exception("training of model %s failed", model.pk)
        return _fail(model, f"Training failed unexpectedly ({type(exc).__name__}: {exc}).")
    finally:
        artifacts.remove_job(tenant_id, model_id)
    return _finish(model, *outcome)


def _claim(model: MLModel) -> bool:
    """Take the run for this worker unless another took it within the run's time limit (a
    redelivered task then leaves it alone; one whose worker died takes over)."""
    now = timezone.now()
    taken_before = now - timedelta(seconds=run_time_limit(model.walk_forward_folds))
    claimed = MLModel.objects.for_tenant(model.tenant_id).filter(
        pk=model.pk, status=Status.TRAINING).filter(
        Q(started_at__isnull=True) | Q(started_at__lt=taken_before)
    ).update(started_at=now, progress={"stage": "starting"})
    return bool(claimed)


def run_time_limit(folds: int) -> int:
    """Seconds a whole run may take: the model plus each walk-forward fold, plus slack."""
    return settings.AITRADER_ML_TRAIN_TIMEOUT_SECONDS * (folds + 1) + 120


def _train(model: MLModel, report: Callable[[dict[str, Any]], None]
           ) -> tuple[TrainedModel, dict[str, Any] | None]:
    from mlmodels.pipeline import train_and_evaluate, walk_forward  # torch: workers only

    job = artifacts.job_dir(model.tenant_id, model.pk)
    try:
        candles = artifacts.load_candles(job / "candles.npz")
    except OSError:
        raise ValidationFailed("The training inputs were lost before the run started; "
                               "train again.") from None
    options = TrainingOptions.from_dict(model.options)
    trained = train_and_evaluate(
        candles, options, job_dir=job, destination=artifacts.model_dir(model.tenant_id, model.pk),
        identity=_identity(model), limits=training_limits(), on_progress=report)
    folds = None
    if model.walk_forward_folds:
        # A fold that fails does not throw the trained model away; the report says why.
        try:
            folds = walk_forward(candles, options, model.walk_forward_folds,
                                 workdir=job / "folds", limits=training_limits(),
                                 on_progress=report)
        except TrainingFailed as exc:
            folds = {"error": f"Walk-forward stopped: {exc.reason}"}
    return trained, folds


def _identity(model: MLModel) -> dict[str, Any]:
    return {"model_id": model.pk, "tenant_id": model.tenant_id, "version": model.version,
            "symbol": model.symbol, "timeframe": model.timeframe}


def _progress_reporter(model: MLModel, also: Callable[[dict[str, Any]], None] | None
                       ) -> Callable[[dict[str, Any]], None]:
    """Stream each epoch to the tenant's live feed and keep the latest on the row."""

    def report(event: dict[str, Any]) -> None:
        data = {"model_id": model.pk, "version": model.version, "symbol": model.symbol,
                "timeframe": model.timeframe, "status": Status.TRAINING, **event}
        MLModel.objects.for_tenant(model.tenant_id).filter(
            pk=model.pk, status=Status.TRAINING).update(
            progress={**event, "stage": event.get("event")})
        publish_now(model.tenant_id, "training", None, data)
        if also is not None:
            also(event)

    return report


def _finish(model: MLModel, trained: TrainedModel, folds: dict[str, Any] | None) -> MLModel:
    with transaction.atomic():
        model = _locked(model.tenant_id, model.pk)
        model.status = Status.READY
        model.metrics = trained.metrics
        model.training = trained.training
        model.walk_forward = folds
        model.artifact_path = artifacts.relative(artifacts.model_dir(model.tenant_id, model.pk))
        model.artifact_sha256 = trained.digest
        model.trained_at = timezone.now()
        model.progress = {**model.progress, "stage": "done"}
        model.save()
        _publish(model)
    _after_retrain(model)
    return model


def _fail(model: MLModel, reason: str) -> MLModel:
    with transaction.atomic():
        model = _locked(model.tenant_id, model.pk)
        model.status = Status.FAILED
        model.failure_reason = reason[:FAILURE_REASON_LENGTH]
        model.progress = {**model.progress, "stage": "failed"}
        model.save(update_fields=["status", "failure_reason", "progress"])
        _publish(model)
    return model


def _locked(tenant: Tenant | int, model_id: int) -> MLModel:
    # A missing or foreign model answers as the selectors do (mlmodel_get).
    return MLModel.objects.locked_for_tenant(tenant, model_id,
                                             message=f"Model {model_id} not found.")


def _publish(model: MLModel) -> None:
    publish_on_commit(model.tenant_id, "training", None, {
        "model_id": model.pk, "version": model.version, "symbol": model.symbol,
        "timeframe": model.timeframe, "status": model.status,
        "failure_reason": model.failure_reason})


# --- lifecycle -------------------------------------------------------------------------------

@transaction.atomic
def mlmodel_promote(*, tenant: Tenant, actor: Actor, model_id: int) -> MLModel:
    """Make a ready model the active one of its market; the previous active goes back to
    ready (so promoting it again rolls back). Bots on "active" follow within seconds."""
    actor.require(Scope.CONTROL)
    model = _locked(tenant, model_id)
    if model.status == Status.ACTIVE:
        return model
    if model.status != Status.READY:
        raise Conflict(f"Only a ready model can be promoted; this one is {model.status}.")
    if model.is_stale():
        raise Conflict("This model is past its staleness limit; retrain it or raise the limit "
                       "first.")
    current = MLModel.objects.for_tenant(tenant).select_for_update().filter(
        symbol=model.symbol, timeframe=model.timeframe, status=Status.ACTIVE).first()
    if current is not None:
        current.status = Status.READY
        current.save(update_fields=["status"])
    model.status, model.promoted_at = Status.ACTIVE, timezone.now()
    try:
        with transaction.atomic():
            model.save(update_fields=["status", "promoted_at"])
    except IntegrityError:  # the one-active constraint: a concurrent promote won the race
        raise Conflict("Another model of this market was promoted at the same moment; "
                       "reload and try again.") from None
    _lifecycle_recorded(tenant, actor, model, "mlmodel.promote",
                        {"replaced": current.pk if current else None})
    return model


@transaction.atomic
def mlmodel_retire(*, tenant: Tenant, actor: Actor, model_id: int) -> MLModel:
    """Take a model out of use for good. Retiring the active model leaves its market without
    one: bots that follow "active" hold, and their Thought says why."""
    actor.require(Scope.CONTROL)
    model = _locked(tenant, model_id)
    if model.status == Status.RETIRED:
        return model
    if model.status not in (Status.READY, Status.ACTIVE):
        raise Conflict(f"Only a ready or active model can be retired; this one is "
                       f"{model.status}.")
    model.status, model.retired_at = Status.RETIRED, timezone.now()
    model.save(update_fields=["status", "retired_at"])
    _lifecycle_recorded(tenant, actor, model, "mlmodel.retire", {})
    return model


@transaction.atomic
def mlmodel_schedule(*, tenant: Tenant, actor: Actor, model_id: int,
                     retrain_every: timedelta | None, max_age: timedelta | None,
                     auto_promote: bool = False) -> MLModel:
    """Set a model's retraining interval (None: off), its staleness limit (None: never
    stale) and whether a scheduled retrain that beats its baseline is promoted."""
    actor.require(Scope.CONTROL)
    _check_schedule(retrain_every=retrain_every, max_age=max_age)
    model = _locked(tenant, model_id)
    model.retrain_every, model.max_age = retrain_every, max_age
    model.retrain_auto_promote = auto_promote
    model.save(update_fields=["retrain_every", "max_age", "retrain_auto_promote"])
    _lifecycle_recorded(tenant, actor, model, "mlmodel.schedule", {
        "retrain_every_s": retrain_every.total_seconds() if retrain_every else None,
        "max_age_s": max_age.total_seconds() if max_age else None,
        "auto_promote": auto_promote})
    return model


def _check_schedule(*, retrain_every: timedelta | None, max_age: timedelta | None) -> None:
    for name, value in (("retrain_every", retrain_every), ("max_age", max_age)):
        if value is not None and not MIN_SCHEDULE <= value <= MAX_SCHEDULE:
            raise ValidationFailed(f"{name} must be between 1 hour and 365 days.", field=name)


def _lifecycle_recorded(tenant: Tenant, actor: Actor, model: MLModel, action: str,
                        details: dict[str, Any]) -> None:
    audit_record(tenant=tenant, actor=actor, action=action, target=str(model),
                 details={"model_id": model.pk, **details})
    _publish(model)
    from mlmodels.resolver import forget_resolutions

    transaction.on_commit(forget_resolutions)


# --- scheduled retraining ------------------------------------------------------------------

def mlmodel_retrain(*, tenant: Tenant, actor: Actor, model_id: int,
                    queue: bool = True) -> MLModel:
    """Train the next version of a model on the newest candles of its data source, with the
    same options and schedule. When the source cannot be read or has no candle newer than the
    model's, the attempt is recorded as a failed version saying so: a schedule that cannot run
    is visible in the registry, never silent."""
    actor.require(Scope.CONTROL)
    source = selectors.mlmodel_get(tenant=tenant, model_id=model_id)
    try:
        candles = _fresh_candles(source)
    except ValidationFailed as exc:
        return _failed_attempt(tenant=tenant, actor=actor, source=source, reason=exc.message)
    return mlmodel_train(
        tenant=tenant, actor=actor, symbol=source.symbol, timeframe=source.timeframe,
        candles=candles, options=source.options, data_source=source.data_source,
        walk_forward_folds=source.walk_forward_folds, max_age=source.max_age,
        retrain_every=source.retrain_every, retrain_auto_promote=source.retrain_auto_promote,
        retrained_from=source, queue=queue)


def _fresh_candles(source: MLModel) -> Candles:
    """The newest candles of the source file, as many as the model learned from."""
    if not source.data_source:
        raise ValidationFailed("This model has no data source to retrain from.")
    try:
        candles = _source_candles(source.data_source)
    except CandleFileError as exc:
        raise ValidationFailed(f"Retraining could not read its data: {exc}") from None
    newest = int(candles.timestamp[-1])
    if source.data_end_ts is not None and newest <= source.data_end_ts:
        raise ValidationFailed(f"No candle in {source.data_source} is newer than the ones "
                               f"version {source.version} learned from; the data feed has "
                               f"stopped.")
    count = source.dataset.get("candles") or len(candles)
    return candles[-count:]


def _source_candles(data_source: str) -> Candles:
    """The candles a data source names: a market's stored history (`stored:BTC/USDT:1h`, what
    the page and the API train on) or a candle file (the CLI)."""
    kind, _, market = data_source.partition(":")
    if kind == "stored":
        from trading.services.backtests import stored_candles

        symbol, _, timeframe = market.rpartition(":")
        return stored_candles(symbol=symbol, timeframe=timeframe)
    return load_csv(data_source)


def _failed_attempt(*, tenant: Tenant, actor: Actor, source: MLModel, reason: str) -> MLModel:
    with transaction.atomic():
        options = _options(source.options)
        model = _create_version(
            tenant=tenant, actor=actor, symbol=source.symbol, timeframe=source.timeframe,
            options=options, fields={
                "feature_set": source.feature_set, "label": source.label,
                "data_source": source.data_source, "retrained_from": source,
                "retrain_every": source.retrain_every, "max_age": source.max_age,
                "status": Status.FAILED, "failure_reason": reason[:FAILURE_REASON_LENGTH]})
        audit_record(tenant=tenant, actor=actor, action="mlmodel.retrain_failed",
                     target=str(model), details={"model_id": model.pk, "reason": reason[:200]})
        _publish(model)
    return model


def _after_retrain(model: MLModel) -> None:
    """Promote a scheduled retrain whose predecessor was active, when asked to and when it
    beats its naive baseline on the test split; otherwise it waits, ready, for a person."""
    source = model.retrained_from
    if source is None or not model.retrain_auto_promote or source.status != Status.ACTIVE:
        return
    if not beats_baseline(model.metrics):
        return
    tenant = Tenant.objects.get(pk=model.tenant_id)
    mlmodel_promote(tenant=tenant, actor=Actor.system(tenant, via="scheduler"),
                    model_id=model.pk)


def beats_baseline(metrics: dict[str, Any]) -> bool:
    """Whether the test split beats the naive answer (majority class / predicting zero)."""
    test = metrics.get("test") or {}
    if metrics.get("label_kind") == "regression":
        return test.get("rmse", float("inf")) < test.get("baseline_rmse", 0.0)
    return test.get("accuracy", 0.0) > test.get("baseline_accuracy", 1.0)


def mlmodel_retrain_due(*, now=None) -> list[int]:
    """Scheduler entry: start every due retraining and fail runs whose worker vanished.
    Returns the ids of the new model versions."""
    now = now or timezone.now()
    mlmodel_fail_stuck(now=now)
    started = []
    for tenant_id, model_id in selectors.mlmodel_due_for_retraining(now=now):
        tenant = Tenant.objects.get(pk=tenant_id)
        try:
            model = mlmodel_retrain(tenant=tenant, actor=Actor.system(tenant, via="scheduler"),
                                    model_id=model_id)
        except ServiceError as exc:
            logger.warning("scheduled retrain of model %s refused: %s", model_id, exc.message)
            continue
        started.append(model.pk)
    return started


def mlmodel_fail_stuck(*, now=None) -> int:
    """Mark failed every run still training after it could have ended: taken by a worker
    that died without a redelivery, or never taken at all. Returns how many."""
    now = now or timezone.now()
    failed = 0
    for model in selectors.mlmodel_in_training():
        reason = _stuck_reason(model, now)
        if reason:
            _fail(model, reason)
            failed += 1
    return failed


def _stuck_reason(model: MLModel, now) -> str:
    if model.started_at is not None:
        limit = timedelta(seconds=run_time_limit(model.walk_forward_folds) * 2)
        if model.started_at + limit < now:
            return "The worker running this training stopped before finishing; train again."
    elif model.created_at + UNSTARTED_LIMIT < now:
        return "No worker picked this training up within a day; train again."
    return ""
