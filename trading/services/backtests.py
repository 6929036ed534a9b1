"""Backtest runs a member asks for: validated at once, run by a Celery task with progress."""
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
from trading.core.backtest.runner import run_backtest
from trading.core.candles import CandleFileError, Candles, load_csv
from trading.core.timeframes import timeframe_ms
from trading.exchanges.factory import replay_directory
from trading.models import BacktestRun
from trading.sampledata import ensure_sample_files, sample_path
from trading.tasks import backtest_run_task

logger = logging.getLogger(__name__)
CONFIG_KEYS = ("preset", "risk", "cash", "fee", "slippage", "stake")
RANGE_KEYS = ("start_ms", "end_ms")


def stored_candles(*, symbol: str, timeframe: str, start_ms: int | None = None,
                   end_ms: int | None = None) -> Candles:
    """The stored history of a market (replay samples or downloaded files), optionally cut."""
    timeframe_ms(timeframe)
    directory = replay_directory()
    ensure_sample_files(directory)
    path = sample_path(directory, symbol, timeframe)
    if not path.exists():
        raise ValidationFailed(f"No stored candles for {symbol} {timeframe}; download them "
                               "with manage.py download_ohlcv.", field="symbol")
    try:
        candles = load_csv(path)
    except CandleFileError as exc:
        raise ValidationFailed(str(exc), field="symbol") from None
    keep = (candles.timestamp >= (start_ms or 0)) & (candles.timestamp <= (end_ms or 2**62))
    first, last = keep.argmax(), len(keep) - keep[::-1].argmax()
    return candles[int(first):int(last)] if keep.any() else candles[0:0]


def _config(strategy: str, parameters: dict, config: dict) -> BacktestConfig:
    config = {key: value for key, value in config.items() if key not in RANGE_KEYS}
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise ValidationFailed(f"Unknown backtest setting(s): {', '.join(sorted(unknown))}.",
                               field=sorted(unknown)[0])
    backtest = BacktestConfig(strategy=strategy, params=parameters, **config)
    backtest.resolve()  # raises ValidationFailed naming the bad field
    return backtest


@transaction.atomic
def backtest_run_create(*, tenant: Tenant, actor: Actor, strategy: str, symbol: str,
                        timeframe: str, parameters: dict | None = None,
                        config: dict | None = None) -> BacktestRun:
    """Validate a backtest request and queue it; the run reports progress on the live feed."""
    actor.require(Scope.READ)
    parameters, config = dict(parameters or {}), dict(config or {})
    _config(strategy, parameters, config)
    candles = stored_candles(symbol=symbol.upper(), timeframe=timeframe,
                             start_ms=_range_bound(config, "start_ms"),
                             end_ms=_range_bound(config, "end_ms"))
    if len(candles) < 2:
        raise ValidationFailed("No stored candles in that date range.", field="start_ms")
    run = BacktestRun.objects.create(tenant=tenant, created_by=actor.user, strategy=strategy,
                                     parameters=parameters, config=config,
                                     symbol=symbol.upper(), timeframe=timeframe)
    transaction.on_commit(lambda: backtest_run_task.delay(tenant.pk, run.pk))
    return run


def _range_bound(config: dict, key: str) -> int | None:
    raw = config.get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{key} must be epoch milliseconds.", field=key) from None


def backtest_runs_resume() -> int:
    """Queue again the backtests left queued or running (the embedded server stopped before
    its job pool finished them); returns how many. Safe: a run that is done is left alone."""
    from trading.tasks import backtest_run_task

    unfinished = selectors.backtest_runs_unfinished()
    for tenant_id, run_id in unfinished:
        backtest_run_task.delay(tenant_id, run_id)
    return len(unfinished)


def backtest_run_execute(*, tenant_id: int, run_id: int) -> BacktestRun:
    """Run a queued backtest to the end, storing its report or the reason it failed."""
    run = selectors.backtest_run_get(tenant=tenant_id, run_id=run_id)
    if run.status in (BacktestRun.Status.DONE, BacktestRun.Status.FAILED):
        return run  # a redelivered task finds the work done
    _set(run, status=BacktestRun.Status.RUNNING, started_at=timezone.now(), progress=0)
    try:
        candles = stored_candles(symbol=run.symbol, timeframe=run.timeframe,
                                 start_ms=run.config.get("start_ms"),
                                 end_ms=run.config.get("end_ms"))
        config = _config(run.strategy, run.parameters, run.config)
        report = run_backtest(candles, config, progress=lambda p: _progress(run, p),
                              pair=run.symbol)
    except ServiceError as exc:
        return _set(run, status=BacktestRun.Status.FAILED, error=exc.message,
                    finished_at=timezone.now())
    except Exception as exc:  # the run fails with a reason; the worker carries on
        logger.exception("backtest %s failed", run.pk)
        return _set(run, status=BacktestRun.Status.FAILED, finished_at=timezone.now(),
                    error=f"The backtest stopped with an internal error ({type(exc).__name__}).")
    return _set(run, status=BacktestRun.Status.DONE, report=report, progress=100,
                finished_at=timezone.now())


def _progress(run: BacktestRun, percent: float) -> None:
    value = int(percent)
    if value == run.progress:
        return
    _set(run, progress=value)


def _set(run: BacktestRun, **fields: Any) -> BacktestRun:
    for name, value in fields.items():
        setattr(run, name, value)
    BacktestRun.objects.for_tenant(run.tenant_id).filter(pk=run.pk).update(**fields)
    publish_now(run.tenant_id, "backtest", None,
                {"id": run.pk, "status": run.status, "progress": run.progress,
                 "error": run.error})
    return run
