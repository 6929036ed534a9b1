"""Reads of the model registry, always scoped to one tenant (except the platform's scheduler)."""
from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from aitrader.errors import NotFound
from mlmodels.models import MLModel
from tenants.models import Tenant

ModelStatus = MLModel.Status


def mlmodel_list(*, tenant: Tenant | int, symbol: str | None = None,
                 timeframe: str | None = None, status: str | None = None) -> QuerySet[MLModel]:
    """The tenant's models, newest first, optionally for one market and/or status."""
    models = MLModel.objects.for_tenant(tenant).select_related("created_by")
    if symbol:
        models = models.filter(symbol=symbol)
    if timeframe:
        models = models.filter(timeframe=timeframe)
    if status:
        models = models.filter(status=status)
    return models


def mlmodel_get(*, tenant: Tenant | int, model_id: int) -> MLModel:
    """One of the tenant's models; NotFound for a missing id and for another tenant's."""
    model = mlmodel_list(tenant=tenant).filter(pk=model_id).first()
    if model is None:
        raise NotFound(f"Model {model_id} not found.")
    return model


def mlmodel_get_active(*, tenant: Tenant | int, symbol: str, timeframe: str) -> MLModel | None:
    """The tenant's active model for (symbol, timeframe), or None."""
    return mlmodel_list(tenant=tenant, symbol=symbol, timeframe=timeframe,
                        status=ModelStatus.ACTIVE).first()


def mlmodel_learned_until(*, tenant: Tenant | int, model_id: int) -> str | None:
    """When the candles a model learned from end (ISO, UTC): its validation period's last
    candle, as training fits on train and stops early on validation. A backtest before then
    is in-sample. None for a missing (or another tenant's) model or one without splits."""
    splits = mlmodel_list(tenant=tenant).filter(pk=model_id).values_list(
        "splits", flat=True).first()
    validation = (splits or {}).get("validation")
    return validation[1] if validation else None


def mlmodel_latest_version(*, tenant: Tenant | int, symbol: str, timeframe: str) -> int:
    """The highest version number used for (symbol, timeframe); 0 when none."""
    latest = mlmodel_list(tenant=tenant, symbol=symbol, timeframe=timeframe) \
        .order_by("-version").values_list("version", flat=True).first()
    return latest or 0


def mlmodel_for_signal(*, tenant_id: int, symbol: str, timeframe: str,
                       model_id: int) -> MLModel | None:
    """What a bot's ml_signal follows: model `model_id` of the tenant, or with 0 its active
    model for the bot's market. None when there is no such model."""
    if model_id == 0:
        return mlmodel_get_active(tenant=tenant_id, symbol=symbol, timeframe=timeframe)
    return mlmodel_list(tenant=tenant_id).filter(pk=model_id).first()


def mlmodel_due_for_retraining(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(tenant id, model id) of every ready or active model with a retraining interval that
    has passed since it was trained (or since its last failed retrain), and no newer model of
    its market that trains or succeeded.

    The one cross-tenant read: the scheduler only gets ids, and each retrain then goes through
    the tenant's own services.
    """
    now = now or timezone.now()
    candidates = MLModel.objects.all_tenants(reason="the retrain beat serves every tenant").filter(
        status__in=[ModelStatus.READY, ModelStatus.ACTIVE], retrain_every__isnull=False,
        trained_at__isnull=False)
    return [(model.tenant_id, model.pk) for model in candidates
            if _retrain_due(model, now)]


def _retrain_due(model: MLModel, now: datetime) -> bool:
    market = MLModel.objects.for_tenant(model.tenant_id).filter(
        symbol=model.symbol, timeframe=model.timeframe, version__gt=model.version)
    if market.exclude(status=ModelStatus.FAILED).exists():
        return False
    # A failed retrain waits a full interval before the next try, instead of every pass.
    last_failure = market.filter(retrained_from=model).order_by("-created_at") \
        .values_list("created_at", flat=True).first()
    since = max(model.trained_at, last_failure) if last_failure else model.trained_at
    return since + model.retrain_every <= now


def mlmodel_in_training() -> QuerySet[MLModel]:
    """Every run still marked training, of every tenant: the scheduler's sweep for runs
    whose worker vanished (it acts on each through the services)."""
    return MLModel.objects.all_tenants(reason="the sweep for vanished training workers "
                                              "serves every tenant").filter(
        status=ModelStatus.TRAINING)
