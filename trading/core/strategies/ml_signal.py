"""ml_signal: trade on a trained model's predicted probabilities of an up or a down move.

The strategy is plain NumPy like every other: it never imports the ORM. The model comes from
a resolver that the mlmodels app installs when Django starts (`set_model_resolver`). A
resolver maps (scope, model_id) to a Predictor, where the scope is the bot's tenant, symbol and
timeframe, so a bot only ever reaches its own tenant's models, and model_id 0 ("active") means
the tenant's active model for the bot's market.

A strategy needs a scope to find a model: `get_strategy("ml_signal", scope=...)` returns a
subclass bound to one scope (cached, so every bot of that scope shares one class and the
engine's per-candle memo). A backtest of a specific model binds the model itself
(`MlSignal.with_predictor`); a tenant's backtest binds a backtest scope and pins the model it
resolves to once (`pinned`), and the request that queues it asks `check_model` first. When
no usable model exists (none active, stale, retired), the strategy raises SignalUnavailable
with a sentence for the bot's Thought (or, for a backtest, what to do instead).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from trading.core.candles import Candles
from trading.core.errors import ServiceError, ValidationFailed
from trading.core.strategies.base import Param, Strategy

ACTIVE = 0  # model_id meaning "the tenant's active model for this symbol and timeframe"
ACTIVE_WORDS = {"active", ""}
DEFAULT_WARMUP = 90  # the default feature set's lookback, for an unbound class


@dataclass(frozen=True)
class StrategyScope:
    """Whose bot runs the strategy and on which market: the tenant, symbol and timeframe.

    `backtest` marks a backtest's scope: past candles do not go stale, so the resolver lets
    a model past its staleness limit run there, and its refusals say what to do instead of
    that a bot holds."""

    tenant_id: int
    symbol: str
    timeframe: str
    backtest: bool = False


class SignalUnavailable(ServiceError):
    """The strategy cannot decide on this candle (no usable model); the bot holds, and the
    message, written for the bot's Thought, says why."""

    status_code = 409
    code = "signal_unavailable"


class Predictor(Protocol):
    """A trained model as the strategy sees it."""

    label: str  # "model #12 v3 (BTC/USDT 1h)", for messages
    model_id: int  # the registry id, for reports

    def first_index(self) -> int:
        """Candles before this index have no prediction (feature warm-up)."""

    def probabilities(self, candles: Candles) -> np.ndarray:
        """(n, 2) float64: P(up) and P(down) after each candle; NaN during warm-up."""


Resolver = Callable[[StrategyScope, int], Predictor]
# Says whether (scope, model_id) would resolve, without loading the model (no torch): what a
# web request checks before it queues a backtest.
Checker = Callable[[StrategyScope, int], None]
_resolver: Resolver | None = None
_checker: Checker | None = None


def set_model_resolver(resolver: Resolver | None, checker: Checker | None = None) -> None:
    """Install how (scope, model_id) becomes a Predictor, and optionally how it is checked
    without loading (mlmodels does this at app ready)."""
    global _resolver, _checker
    _resolver, _checker = resolver, checker


def _coerce_model_id(raw: Any) -> Any:
    if isinstance(raw, str) and raw.strip().lower() in ACTIVE_WORDS:
        return ACTIVE
    return raw


class MlSignal(Strategy):
    """Enter when the model's P(up) reaches `enter_probability` and beats P(down); exit when
    P(down) reaches `exit_probability` and is at least P(up). Long-only, one entry."""

    key = "ml_signal"
    name = "ML signal"
    description = ("Follows a trained model: buys when the predicted probability of a rise "
                   "passes a threshold, sells when the probability of a fall does.")
    params = (
        Param("model_id", "int", ACTIVE, minimum=0,
              description="Model to follow: its id, or 0 / \"active\" for the tenant's active "
                          "model on the bot's symbol and timeframe."),
        Param("enter_probability", "float", 0.4, minimum=0.0, maximum=1.0,
              description="Buy when the model's probability of a rise is at least this (and "
                          "above that of a fall)."),
        Param("exit_probability", "float", 0.4, minimum=0.0, maximum=1.0,
              description="Sell when the model's probability of a fall is at least this (and "
                          "not below that of a rise)."),
    )
    scope: ClassVar[StrategyScope | None] = None
    predictor: ClassVar[Predictor | None] = None

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """As the base class, plus "active" accepted for model_id 0."""
        raw = dict(raw or {})
        if "model_id" in raw:
            raw["model_id"] = _coerce_model_id(raw["model_id"])
        return super().validate_params(raw)

    @classmethod
    def bound(cls, scope: StrategyScope) -> type[MlSignal]:
        """The strategy as the bots of one tenant, symbol and timeframe run it."""
        return _bound_class(cls, scope)

    @classmethod
    def with_predictor(cls, predictor: Predictor) -> type[MlSignal]:
        """The strategy on one given model (backtests of a model's test split)."""
        return type(f"MlSignal[{predictor.label}]", (cls,), {"predictor": predictor})

    @classmethod
    def resolve(cls, params: Mapping[str, Any]) -> Predictor:
        """The model these params point at, for this class's scope."""
        if cls.predictor is not None:
            return cls.predictor
        if cls.scope is None:
            raise ValidationFailed("ml_signal follows a tenant's model: run it from a bot, or "
                                   "backtest it on the Backtests page or through the API.",
                                   field="strategy")
        if _resolver is None:
            raise SignalUnavailable("ML models are not available in this process; holding.")
        return _resolver(cls.scope, int(params["model_id"]))

    @classmethod
    def check_model(cls, params: Mapping[str, Any]) -> None:
        """Raise SignalUnavailable (saying why) unless these params point at a usable model,
        without loading it when a checker is installed."""
        if cls.predictor is None and cls.scope is not None and _checker is not None:
            _checker(cls.scope, int(params["model_id"]))
            return
        cls.resolve(params)

    @classmethod
    def pinned(cls, params: Mapping[str, Any]) -> type[MlSignal]:
        """The strategy on the model these params resolve to now: a backtest resolves once
        and runs on that one model to the end, whatever is promoted meanwhile."""
        return cls.with_predictor(cls.resolve(params))

    @classmethod
    def warmup(cls, params: Mapping[str, Any] | None = None) -> int:
        if cls.predictor is None and cls.scope is None:
            return DEFAULT_WARMUP
        return cls.resolve(cls.validate_params(params)).first_index()

    @classmethod
    def compute(cls, candles: Candles, params: dict[str, Any]) -> np.ndarray:
        probabilities = cls.resolve(params).probabilities(candles)
        up, down = probabilities[:, 0], probabilities[:, 1]
        signals = np.zeros(len(candles), dtype=np.int8)
        # The direction comparison keeps entry and exit exclusive; NaN (warm-up) compares
        # False everywhere, so those candles stay 0.
        signals[(up >= params["enter_probability"]) & (up > down)] = 1
        signals[(down >= params["exit_probability"]) & (down >= up)] = -1
        return signals


@functools.lru_cache(maxsize=4096)
def _bound_class(strategy: type[MlSignal], scope: StrategyScope) -> type[MlSignal]:
    # One class per scope, reused: the engine memoises signals by strategy class, so bots of
    # one scope share a computation and bots of different tenants never share one.
    return type(f"{strategy.__name__}[{scope.tenant_id}:{scope.symbol}:{scope.timeframe}]",
                (strategy,), {"scope": scope})
