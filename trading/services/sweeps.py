"""Parameter sweeps a member asks for: validated at once, run by a Celery task with progress.

A sweep backtests every combination of a grid over the strategy's declared parameters on the
in-sample candles and again on the out-of-sample ones (trading.core.backtest.walk_forward),
so the page and the API can show how the best in-sample choice did on candles it never saw.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from aitrader.errors import ServiceError, ValidationFailed
from tenants.actors import Actor
from tenants.events import publish_now
from tenants.models import Scope, Tenant
from trading import selectors
from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.walk_forward import (
    combination_count,
    combinations,
    expand_grid,
    run_walk_forward,
    sweepable_strategy,
)
from trading.core.backtest.walk_forward import out_of_sample_pct as checked_out_of_sample_pct
from trading.core.candles import Candles
from trading.models import BacktestSweep

# The backtest's own checks of its settings and date range: a sweep takes the same ones.
from trading.services.backtests import (
    DATA_KEYS,
    RANGE_KEYS,
    backtest_config,
    backtest_data_choice,
    jobs_resume,
    range_bound,
    stored_candles,
)
from trading.tasks import sweep_run_task

logger = logging.getLogger(__name__)
EVENT = "sweep"


@transaction.atomic
def sweep_create(*, tenant: Tenant, actor: Actor, strategy: str, symbol: str, timeframe: str,
                 grid: Any, parameters: dict | None = None, config: dict | None = None,
                 out_of_sample_pct: Any = None) -> BacktestSweep:
    """Validate a sweep request and queue it; the sweep reports progress on the live feed.

    `grid` maps each swept parameter to a list of values or {"min", "max", "step"};
    `parameters` fixes the others (a parameter is either swept or fixed). ValidationFailed
    names the bad field: `strategy`, `grid`, a parameter, `out_of_sample_pct`, a setting.
    """
    actor.require(Scope.READ)
    strategy_class = sweepable_strategy(strategy)
    parameters, config = dict(parameters or {}), dict(config or {})
    pct = checked_out_of_sample_pct(out_of_sample_pct)
    values = expand_grid(strategy_class, grid)
    for name in parameters:
        if name in values:
            raise ValidationFailed(f"{name} is both swept and fixed; give it one or the other.",
                                   field=name)
    _check_settings(strategy, parameters, config, values)
    # The data set and range as a backtest checks them (file footers, not years of candles);
    # a range too short to split is the job's to report.
    config |= backtest_data_choice(tenant_id=tenant.pk, symbol=symbol.upper(),
                                   timeframe=timeframe, config=config)
    sweep = BacktestSweep.objects.create(
        tenant=tenant, created_by=actor.user, strategy=strategy_class.key,
        parameters=parameters, grid=values, config=config, symbol=symbol.upper(),
        timeframe=timeframe, out_of_sample_pct=pct, combinations=combination_count(values))
    transaction.on_commit(lambda: sweep_run_task.delay(tenant.pk, sweep.pk))
    return sweep


def _candles(*, tenant_id: int, symbol: str, timeframe: str, config: dict) -> Candles:
    """The candles a backtest with these settings would run on (data set and date range)."""
    return stored_candles(symbol=symbol, timeframe=timeframe, tenant_id=tenant_id,
                          start_ms=range_bound(config, "start_ms"),
                          end_ms=range_bound(config, "end_ms"),
                          data=config.get("data"), exchange=config.get("exchange"))


def _check_settings(strategy: str, parameters: dict, config: dict, grid: dict) -> None:
    """The settings as one backtest checks them, with each combination's parameters in turn:
    a fixed value or a setting that is wrong for every combination is named as such; when the
    strategy refuses every combination (fast >= slow throughout), the grid is to blame."""
    error: ValidationFailed | None = None
    for combination in combinations(grid):
        try:
            backtest_config(strategy, {**parameters, **combination}, config)
            return
        except ValidationFailed as exc:
            if exc.field not in grid:
                raise  # the same for every combination: a setting or a fixed parameter
            error = error or exc
    raise ValidationFailed(f"No combination of the grid is valid: {error.message}",
                           field="grid")


def sweeps_resume() -> int:
    """Queue again the sweeps an embedded server's restart left unfinished."""
    return jobs_resume(BacktestSweep, sweep_run_task)


def sweep_execute(*, tenant_id: int, sweep_id: int) -> BacktestSweep:
    """Run a queued sweep to the end, storing its ranked rows or the reason it failed."""
    sweep = selectors.sweep_get(tenant=tenant_id, sweep_id=sweep_id)
    if sweep.status in (BacktestSweep.Status.DONE, BacktestSweep.Status.FAILED):
        return sweep  # a redelivered task finds the work done
    _set(sweep, status=BacktestSweep.Status.RUNNING, started_at=timezone.now(), progress=0)
    try:
        candles = _candles(tenant_id=sweep.tenant_id, symbol=sweep.symbol,
                           timeframe=sweep.timeframe, config=sweep.config)
        result = run_walk_forward(candles, _base_config(sweep), sweep.grid,
                                  pct=sweep.out_of_sample_pct,
                                  progress=lambda percent: _progress(sweep, percent))
    except ServiceError as exc:
        return _set(sweep, status=BacktestSweep.Status.FAILED, error=exc.message[:500],
                    finished_at=timezone.now())
    except Exception as exc:  # the sweep fails with a reason; the worker carries on
        logger.exception("sweep %s failed", sweep.pk)
        return _set(sweep, status=BacktestSweep.Status.FAILED, finished_at=timezone.now(),
                    error=f"The sweep stopped with an internal error ({type(exc).__name__}).")
    return _set(sweep, status=BacktestSweep.Status.DONE, result=result, progress=100,
                finished_at=timezone.now())


def _base_config(sweep: BacktestSweep) -> BacktestConfig:
    """The settings every combination shares (checked when the sweep was created)."""
    settings = {key: value for key, value in sweep.config.items()
                if key not in RANGE_KEYS and key not in DATA_KEYS}
    return BacktestConfig(strategy=sweep.strategy, params=sweep.parameters,
                          lookahead_check=False, **settings)


def _progress(sweep: BacktestSweep, percent: float) -> None:
    value = int(percent)
    if value != sweep.progress:
        _set(sweep, progress=value)


def _set(sweep: BacktestSweep, **fields: Any) -> BacktestSweep:
    for name, value in fields.items():
        setattr(sweep, name, value)
    BacktestSweep.objects.for_tenant(sweep.tenant_id).filter(pk=sweep.pk).update(**fields)
    publish_now(sweep.tenant_id, EVENT, None,
                {"id": sweep.pk, "status": sweep.status, "progress": sweep.progress,
                 "error": sweep.error})
    return sweep
