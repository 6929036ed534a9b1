"""Backtest runs a member asks for: validated at once, run by a Celery task with progress."""
from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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
from trading.core.history import (
    EXCHANGE,
    HistoryError,
    StoredMarket,
    history_read,
    history_summary,
)
from trading.core.strategies.ml_signal import MlSignal, SignalUnavailable, StrategyScope
from trading.core.timeframes import timeframe_ms
from trading.exchanges.factory import replay_directory
from trading.models import BacktestRun, BacktestSweep
from trading.sampledata import ensure_sample_files, sample_path
from trading.services.candle_history import check_market_names, history_root
from trading.tasks import backtest_run_task

logger = logging.getLogger(__name__)
CONFIG_KEYS = ("preset", "risk", "cash", "fee", "slippage", "stake")
RANGE_KEYS = ("start_ms", "end_ms")
DATA_KEYS = ("data", "exchange")
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the latest moment a range may name
# The data sets a backtest may run on; left out, stored history when the market has it, else
# the replayed sample. The adjective names the set in messages ("No stored candles for ...").
DATA_SETS = {"sample": "sample", "stored": "stored", "upload": "uploaded"}
DATA_SET_LABELS = {"sample": "Replayed sample",
                   "stored": "Stored history (downloaded or imported)",
                   "upload": "Your uploaded history"}


@dataclass(frozen=True)
class DataSource:
    """Where a backtest's candles come from, and the first and last candle it holds."""

    kind: str
    exchange: str | None
    symbol: str
    timeframe: str
    first_ms: int
    last_ms: int

    @property
    def label(self) -> str:
        return DATA_SETS[self.kind]


def backtest_data_source(*, tenant_id: int | None, symbol: str, timeframe: str,
                         data: str | None = None, exchange: str | None = None) -> DataSource:
    """Resolve a data set choice for one market: "sample", "stored" (the shared history),
    "upload" (the tenant's own), or None/"" for stored history when there is some, else the
    sample. Reads only file footers (or the small sample); ValidationFailed names the field."""
    timeframe_ms(timeframe)
    if data not in (None, "", *DATA_SETS):
        raise ValidationFailed(f"Unknown data set {data!r}; choose one of "
                               f"{', '.join(DATA_SETS)}.", field="data")
    if exchange is not None:
        check_market_names(str(exchange), symbol, timeframe)
    if data == "upload" and tenant_id is None:
        raise ValidationFailed("Uploaded history belongs to a workspace; say whose.", field="data")
    if data in ("stored", "upload") or not data:
        root = history_root(tenant_id if data == "upload" else None)
        try:
            found = _stored_summary(root, symbol, timeframe, exchange)
        except HistoryError:  # its message holds server paths: logged, not shown
            logger.exception("stored history of %s %s is unreadable", symbol, timeframe)
            raise ValidationFailed(f"The stored history of {symbol} {timeframe} cannot be "
                                   "read; an operator must repair it.", field="data") from None
        if found is not None:
            return DataSource(data or "stored", found.exchange, symbol, timeframe,
                              found.first_ms, found.last_ms)
        if data:
            where = f" on {exchange}" if exchange else ""
            how = ("upload a candle CSV on the Backtests page" if data == "upload" else
                   "download it with manage.py download_ohlcv or import_candles")
            raise ValidationFailed(f"No {DATA_SETS[data]} history for {symbol} {timeframe}"
                                   f"{where}; {how}.", field="data")
    candles = _sample_candles(symbol, timeframe)
    return DataSource("sample", None, symbol, timeframe, int(candles.timestamp[0]),
                      int(candles.timestamp[-1]))


def stored_candles(*, symbol: str, timeframe: str, start_ms: int | None = None,
                   end_ms: int | None = None, data: str | None = None,
                   tenant_id: int | None = None, exchange: str | None = None) -> Candles:
    """The candles of a market's data set (see backtest_data_source) with
    start_ms <= timestamp <= end_ms; stored history reads only the months in the range."""
    source = backtest_data_source(tenant_id=tenant_id, symbol=symbol, timeframe=timeframe,
                                  data=data, exchange=exchange)
    return _read(source, tenant_id, start_ms, end_ms)


def _read(source: DataSource, tenant_id: int | None, start_ms: int | None,
          end_ms: int | None) -> Candles:
    _check_range(source, start_ms, end_ms)
    if source.kind == "sample":
        candles = _sample_candles(source.symbol, source.timeframe)
        keep = (candles.timestamp >= (start_ms or 0)) & (candles.timestamp <= (end_ms or 2**62))
        first, last = keep.argmax(), len(keep) - keep[::-1].argmax()
        return candles[int(first):int(last)] if keep.any() else candles[0:0]
    root = history_root(tenant_id if source.kind == "upload" else None)
    try:  # the store's end is exclusive, a backtest's inclusive
        return history_read(root, source.exchange, source.symbol, source.timeframe, start_ms,
                            None if end_ms is None else end_ms + 1)
    except HistoryError as exc:
        if "no candles stored" not in str(exc):  # not an empty range: a broken file
            logger.exception("stored history of %s %s is unreadable", source.symbol,
                             source.timeframe)
            raise ValidationFailed(f"The stored history of {source.symbol} {source.timeframe} "
                                   "cannot be read; an operator must repair it.",
                                   field="data") from None
        raise ValidationFailed(_empty_range(source, start_ms, end_ms), field="start_ms") from None


def _check_range(source: DataSource, start_ms: int | None, end_ms: int | None) -> None:
    """The range must run forward and overlap the candles the data set holds."""
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ValidationFailed(f"The end ({_when(end_ms)}) must be on or after the start "
                               f"({_when(start_ms)}).", field="end_ms")
    if (start_ms is not None and start_ms > source.last_ms) or (
            end_ms is not None and end_ms < source.first_ms):
        raise ValidationFailed(_empty_range(source, start_ms, end_ms), field="start_ms")


def _empty_range(source: DataSource, start_ms: int | None, end_ms: int | None) -> str:
    return (f"No {source.label} candles for {source.symbol} {source.timeframe} between "
            f"{_when(start_ms, 'the start')} and {_when(end_ms, 'the end')} (UTC); "
            f"{source.label}: {_when(source.first_ms)} to {_when(source.last_ms)}.")


def _when(timestamp_ms: int | None, unbounded: str = "") -> str:
    if timestamp_ms is None:
        return unbounded
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _stored_summary(root: Path, symbol: str, timeframe: str,
                    exchange: str | None) -> StoredMarket | None:
    """What the store holds for the market on `exchange`, or on the first exchange (by name)
    that holds it."""
    if exchange is not None:
        return history_summary(root, exchange, symbol, timeframe)
    pair = symbol.replace("/", "-", 1)
    for directory in sorted(root.glob(f"*/{glob.escape(pair)}/{timeframe}")):
        name = directory.parent.parent.name
        if EXCHANGE.fullmatch(name):
            summary = history_summary(root, name, symbol, timeframe)
            if summary is not None:
                return summary
    return None


def _sample_candles(symbol: str, timeframe: str) -> Candles:
    """The replayed sample of a market (written on first use)."""
    directory = replay_directory()
    ensure_sample_files(directory)
    path = sample_path(directory, symbol, timeframe)
    if not path.exists():
        raise ValidationFailed(f"No stored candles for {symbol} {timeframe}; download them "
                               "with manage.py download_ohlcv.", field="symbol")
    try:
        return load_csv(path)
    except CandleFileError as exc:
        raise ValidationFailed(str(exc), field="symbol") from None


def backtest_config(strategy: str, parameters: dict, config: dict) -> BacktestConfig:
    """The checked BacktestConfig of a request's strategy, parameters and settings (range
    and data-set keys left out); ValidationFailed names the first bad field."""
    config = {key: value for key, value in config.items()
              if key not in RANGE_KEYS and key not in DATA_KEYS}
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
    backtest_config(strategy, parameters, config)
    _check_model(tenant_id=tenant.pk, strategy=strategy, symbol=symbol.upper(),
                 timeframe=timeframe, parameters=parameters)
    config |= backtest_data_choice(tenant_id=tenant.pk, symbol=symbol.upper(), timeframe=timeframe,
                           config=config)
    run = BacktestRun.objects.create(tenant=tenant, created_by=actor.user, strategy=strategy,
                                     parameters=parameters, config=config,
                                     symbol=symbol.upper(), timeframe=timeframe)
    transaction.on_commit(lambda: backtest_run_task.delay(tenant.pk, run.pk))
    return run


def backtest_data_choice(*, tenant_id: int, symbol: str, timeframe: str,
                 config: dict) -> dict[str, Any]:
    """The data set a new run will read (resolved, so a later upload or download cannot
    change what a queued run means), with its range checked against the set's bounds."""
    source = backtest_data_source(tenant_id=tenant_id, symbol=symbol, timeframe=timeframe,
                                  data=config.get("data"), exchange=config.get("exchange"))
    start_ms, end_ms = range_bound(config, "start_ms"), range_bound(config, "end_ms")
    if source.kind == "sample":  # a small file: count the candles now
        if len(_read(source, tenant_id, start_ms, end_ms)) < 2:
            raise ValidationFailed(_empty_range(source, start_ms, end_ms), field="start_ms")
    else:  # maybe years of candles: the footers' bounds now, the months in the job
        _check_range(source, start_ms, end_ms)
    return {"data": source.kind, **({"exchange": source.exchange} if source.exchange else {})}


def _model_strategy(*, tenant_id: int, strategy: str, symbol: str,
                    timeframe: str) -> type[MlSignal] | None:
    """ml_signal bound to a backtest of the tenant's market (the one strategy that reads
    tenant data: a model, through the resolver mlmodels installs); None for the others."""
    if strategy != MlSignal.key:
        return None
    return MlSignal.bound(StrategyScope(tenant_id, symbol, timeframe, backtest=True))


def _check_model(*, tenant_id: int, strategy: str, symbol: str, timeframe: str,
                 parameters: dict) -> None:
    """Refuse at once (a form error, a 400) an ml_signal backtest with no usable model,
    rather than queue a run that can only fail."""
    bound = _model_strategy(tenant_id=tenant_id, strategy=strategy, symbol=symbol,
                            timeframe=timeframe)
    if bound is None:
        return
    try:
        bound.check_model(bound.validate_params(parameters))
    except SignalUnavailable as exc:
        raise ValidationFailed(exc.message, field="strategy") from None


def _pinned_strategy(run: BacktestRun) -> type[MlSignal] | None:
    """For ml_signal, the strategy on the model resolved now, so the whole run uses one model
    (loaded here, in the worker; the core only runs its predictions)."""
    bound = _model_strategy(tenant_id=run.tenant_id, strategy=run.strategy, symbol=run.symbol,
                            timeframe=run.timeframe)
    return None if bound is None else bound.pinned(bound.validate_params(run.parameters))


def range_bound(config: dict, key: str) -> int | None:
    """`config[key]` (start_ms or end_ms) as epoch milliseconds from 1970 to 9999, or None;
    ValidationFailed naming `key` otherwise."""
    raw = config.get(key)
    if raw is None:
        return None
    try:
        if isinstance(raw, bool) or float(raw) != int(raw) or not 0 <= int(raw) <= LAST_MS:
            raise ValueError
        return int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed(f"{key} must be epoch milliseconds from 1970 to 9999.",
                               field=key) from None


def jobs_resume(model: type[BacktestRun] | type[BacktestSweep], task) -> int:
    """Queue `task` again for each of `model`'s jobs left queued or running (the embedded
    server stopped before its job pool finished them); returns how many. Safe: the task
    leaves a job that is done alone."""
    unfinished = selectors.jobs_unfinished(model)
    for tenant_id, job_id in unfinished:
        task.delay(tenant_id, job_id)
    return len(unfinished)


def backtest_runs_resume() -> int:
    """Queue again the backtests an embedded server's restart left unfinished."""
    return jobs_resume(BacktestRun, backtest_run_task)


def backtest_run_execute(*, tenant_id: int, run_id: int) -> BacktestRun:
    """Run a queued backtest to the end, storing its report or the reason it failed."""
    run = selectors.backtest_run_get(tenant=tenant_id, run_id=run_id)
    if run.status in (BacktestRun.Status.DONE, BacktestRun.Status.FAILED):
        return run  # a redelivered task finds the work done
    _set(run, status=BacktestRun.Status.RUNNING, started_at=timezone.now(), progress=0)
    try:
        candles = stored_candles(symbol=run.symbol, timeframe=run.timeframe,
                                 start_ms=run.config.get("start_ms"),
                                 end_ms=run.config.get("end_ms"), data=run.config.get("data"),
                                 tenant_id=run.tenant_id, exchange=run.config.get("exchange"))
        if len(candles) < 2:
            raise ValidationFailed("Fewer than two candles in that date range.",
                                   field="start_ms")
        config = backtest_config(run.strategy, run.parameters, run.config)
        pinned = _pinned_strategy(run)
        report = run_backtest(candles, config, progress=lambda p: _progress(run, p),
                              pair=run.symbol, strategy=pinned)
        report["config"]["data"] = _data_record(run, candles)
        if pinned is not None:
            report["ml_model"] = {"id": pinned.predictor.model_id,
                                  "label": pinned.predictor.label}
    except ServiceError as exc:
        return _set(run, status=BacktestRun.Status.FAILED, error=exc.message,
                    finished_at=timezone.now())
    except Exception as exc:  # the run fails with a reason; the worker carries on
        logger.exception("backtest %s failed", run.pk)
        return _set(run, status=BacktestRun.Status.FAILED, finished_at=timezone.now(),
                    error=f"The backtest stopped with an internal error ({type(exc).__name__}).")
    return _set(run, status=BacktestRun.Status.DONE, report=report, progress=100,
                finished_at=timezone.now())


def _data_record(run: BacktestRun, candles: Candles) -> dict[str, Any]:
    """Which data set and range a report was computed on (its first and last candle)."""
    return {"set": run.config.get("data", "sample"), "exchange": run.config.get("exchange"),
            "symbol": run.symbol, "timeframe": run.timeframe,
            "start_ms": int(candles.timestamp[0]), "end_ms": int(candles.timestamp[-1]),
            "candles": len(candles)}


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
