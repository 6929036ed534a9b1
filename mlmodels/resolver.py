"""How ml_signal finds its model: (bot's scope, model_id) -> a loaded, usable model.

Installed into trading.core.strategies.ml_signal when Django starts (MlmodelsConfig.ready). Each
answer checks the registry for the bot's own tenant only, so a bot can never follow another
tenant's model (it gets the same "not found" as for a missing one). A model that is not
ready or active, trained for another market, past its staleness limit or whose files do not
match their digest is refused with SignalUnavailable; the sentence ends up in the bot's
Thought.

The registry read is memoised for a few seconds per (scope, model_id): a thousand bots on
one model cost one query per few seconds, not a thousand per candle. Promote and retire clear
the memo of their own process at once; other processes follow within RESOLUTION_TTL_SECONDS.
A backtest's scope reads the registry once per run instead, skips the staleness limit (past
candles do not go stale) and is refused with what to do rather than "holding"; `check`
answers without loading the model, for the request that queues the backtest.
torch is imported on first use, so processes that never run ml_signal never load it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from mlmodels import artifacts, selectors
from mlmodels.models import MLModel
from trading.core.strategies.ml_signal import ACTIVE, Predictor, SignalUnavailable, StrategyScope

RESOLUTION_TTL_SECONDS = 5.0
USABLE = (MLModel.Status.READY, MLModel.Status.ACTIVE)


@dataclass(frozen=True)
class Resolution:
    """What the registry said about a model, enough to check and load it."""

    model_id: int
    version: int
    symbol: str
    timeframe: str
    status: str
    trained_at: datetime | None
    max_age: timedelta | None
    artifact_path: str
    artifact_sha256: str

    @classmethod
    def of(cls, model: MLModel) -> Resolution:
        return cls(model.pk, model.version, model.symbol, model.timeframe, model.status,
                   model.trained_at, model.max_age, model.artifact_path, model.artifact_sha256)

    @property
    def name(self) -> str:
        return f"ML model #{self.model_id} v{self.version}"


_memo: dict[tuple[StrategyScope, int], tuple[float, Resolution | None]] = {}
_memo_lock = threading.Lock()
_threads_set = False


def forget_resolutions() -> None:
    """Forget memoised registry answers (after a promote or retire, and in tests)."""
    with _memo_lock:
        _memo.clear()


def _lookup(scope: StrategyScope, model_id: int) -> Resolution | None:
    if scope.backtest:  # one read per run: a model promoted a moment ago must count
        return _read(scope, model_id)
    key = (scope, model_id)
    now = time.monotonic()
    with _memo_lock:
        cached = _memo.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    resolution = _read(scope, model_id)
    with _memo_lock:
        _memo[key] = (now + RESOLUTION_TTL_SECONDS, resolution)
    return resolution


def _read(scope: StrategyScope, model_id: int) -> Resolution | None:
    model = selectors.mlmodel_for_signal(tenant_id=scope.tenant_id, symbol=scope.symbol,
                                         timeframe=scope.timeframe, model_id=model_id)
    return Resolution.of(model) if model is not None else None


def _refusal(scope: StrategyScope, model_id: int, found: Resolution | None,
             now: datetime) -> str | None:
    """Why `scope` cannot use this model, as a sentence; None when it can. A bot's sentence
    says what the bot does meanwhile; a backtest's says what to do instead."""
    problem = _problem(scope, model_id, found, now)
    if problem is None:
        return None
    reason, bot_does = problem
    if not scope.backtest:
        return f"{reason}; {bot_does}."
    if found is None:
        return (f"{reason}. Train a model for this market on the Models page and promote it, "
                f"or set model_id to one of its ready models.")
    return f"{reason}."


def _problem(scope: StrategyScope, model_id: int, found: Resolution | None,
             now: datetime) -> tuple[str, str] | None:
    """(what is wrong, what a bot does about it), or None when the model is usable."""
    market = f"{scope.symbol} {scope.timeframe}"
    if found is None:
        if model_id == ACTIVE:
            return f"No active ML model for {market}", "holding until one is promoted"
        return f"ML model #{model_id} was not found", "holding"
    if (found.symbol, found.timeframe) != (scope.symbol, scope.timeframe):
        return (f"{found.name} was trained on {found.symbol} {found.timeframe}, not "
                f"{market}"), "holding"
    if found.status not in USABLE:
        return f"{found.name} is {found.status}", "holding"
    age = now - (found.trained_at or now)
    # Past candles do not go stale: a backtest may still judge an old model on them.
    if not scope.backtest and found.max_age is not None and age > found.max_age:
        return (f"{found.name} is {_days(age)} old, past its staleness limit of "
                f"{_days(found.max_age)}"), "not trading on it until it is retrained"
    return None


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86_400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def resolve(scope: StrategyScope, model_id: int) -> Predictor:
    """The usable model a bot (or backtest) of `scope` follows; SignalUnavailable saying why
    otherwise."""
    return _load(scope, check(scope, model_id))


def check(scope: StrategyScope, model_id: int) -> Resolution:
    """What `resolve` would load, checked against the registry without loading it (no torch):
    SignalUnavailable saying why when it is not usable."""
    found = _lookup(scope, model_id)
    refusal = _refusal(scope, model_id, found, timezone.now())
    if refusal:
        raise SignalUnavailable(refusal)
    return found


def _load(scope: StrategyScope, found: Resolution) -> Predictor:
    from mlmodels.inference import ArtifactError, load_model

    _fix_threads()
    try:
        return load_model(artifacts.absolute(found.artifact_path),
                          expected_digest=found.artifact_sha256, model_id=found.model_id)
    except (ArtifactError, ValueError) as exc:
        tail = "." if scope.backtest else "; holding."
        raise SignalUnavailable(f"{found.name}'s stored files cannot be used ({exc}){tail}"
                                ) from None


def _fix_threads() -> None:
    # Once per process: inference threads are fixed so predictions are reproducible and a
    # worker's torch does not grab every core next to the ticks.
    global _threads_set
    if not _threads_set:
        import torch

        torch.set_num_threads(settings.AITRADER_ML_INFERENCE_THREADS)
        _threads_set = True
