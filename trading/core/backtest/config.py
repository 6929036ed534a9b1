"""What a backtest runs: strategy, parameters, risk preset, money and market frictions."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading.core.backtest.simulation import SimulationSettings
from trading.core.errors import ValidationFailed
from trading.core.money import CAPITAL, FEE_RATE, SLIPPAGE, MoneyLimit
from trading.core.strategies import Strategy, get_strategy
from trading.core.strategies.presets import RiskSettings, risk_for

# The stake, as a fraction of equity per position: RiskSettings' own range for stake_fraction.
STAKE = MoneyLimit("The stake", Decimal("0.0001"), Decimal(1), 4)
# What a backtest request may ask, in one place: the CLI, the service, the page's form and the
# API's serializer all take their bounds from here (fee, slippage and stake are fractions).
BACKTEST_LIMITS: dict[str, MoneyLimit] = {"cash": CAPITAL, "fee": FEE_RATE, "slippage": SLIPPAGE,
                                          "stake": STAKE}
_HUNDRED = Decimal(100)

_CONFIG_KEYS = ("strategy", "params", "preset", "risk", "cash", "fee", "slippage", "stake",
                "lookahead_check", "equity_points")


@dataclass(frozen=True)
class BacktestConfig:
    """A backtest request as the CLI, the API and the Celery task receive it (unvalidated).

    `fee` and `slippage` are fractions (0.001 = 0.1 %). `stake`, when given, replaces the
    preset's stake_fraction; `risk` overrides single risk settings on top of the preset.
    """

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    preset: str | None = None
    risk: Mapping[str, Any] = field(default_factory=dict)
    cash: float = 10_000.0
    fee: float = 0.001
    slippage: float = 0.0
    stake: float | None = None
    lookahead_check: bool = True
    equity_points: int = 2000  # the report's equity curve is downsampled to about this many

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestConfig:
        """From JSON (API body, Celery argument); unknown keys are refused."""
        unknown = sorted(set(data) - set(_CONFIG_KEYS))
        if unknown:
            raise ValidationFailed(f"Unknown backtest setting {unknown[0]!r}.", field=unknown[0])
        if "strategy" not in data:
            raise ValidationFailed("Choose a strategy.", field="strategy")
        return cls(**{key: data[key] for key in _CONFIG_KEYS if key in data})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the inverse of from_dict)."""
        return {key: (dict(value) if isinstance(value, Mapping) else value)
                for key in _CONFIG_KEYS for value in [getattr(self, key)]}

    def resolve(self) -> ResolvedConfig:
        """Validate everything; ValidationFailed names the first bad field."""
        strategy = get_strategy(self.strategy)
        params = strategy.validate_params(self.params)
        risk = risk_for(self.preset, self.risk)
        if self.stake is not None:
            risk = risk.with_overrides({"stake_fraction": _money("stake", self.stake, STAKE)})
        return ResolvedConfig(
            strategy=strategy, params=params, preset=self.preset or None, risk=risk,
            cash=_money("cash", self.cash, CAPITAL), fee=_money("fee", self.fee, FEE_RATE),
            slippage=_money("slippage", self.slippage, SLIPPAGE),
            lookahead_check=bool(self.lookahead_check),
            equity_points=int(_number("equity_points", self.equity_points, 10, 1_000_000,
                                      allow_low=True)),
        )


@dataclass(frozen=True)
class ResolvedConfig:
    """A validated backtest: the strategy class, its params and the risk settings."""

    strategy: type[Strategy]
    params: dict[str, Any]
    preset: str | None
    risk: RiskSettings
    cash: float
    fee: float
    slippage: float
    lookahead_check: bool = True
    equity_points: int = 2000

    def simulation(self) -> SimulationSettings:
        """The numbers the fill loop needs (protections off are 0)."""
        risk = self.risk
        return SimulationSettings(
            cash=self.cash, fee_rate=self.fee, slippage=self.slippage,
            stake_fraction=risk.stake_fraction,
            entry_limit=self.strategy.entry_limit(self.params),
            stop_loss_pct=risk.stop_loss_pct or 0.0,
            take_profit_pct=risk.take_profit_pct or 0.0,
            max_drawdown_pct=risk.max_drawdown_pct or 0.0,
            daily_loss_limit_pct=risk.daily_loss_limit_pct or 0.0,
            cooldown_candles=risk.cooldown_candles,
        )

    def to_dict(self) -> dict[str, Any]:
        """What the report shows as the run's settings."""
        return {"strategy": self.strategy.key, "params": self.params, "preset": self.preset,
                "risk": self.risk.to_dict(), "cash": self.cash, "fee": self.fee,
                "slippage": self.slippage,
                "entry_limit": self.strategy.entry_limit(self.params)}


def as_percent(limit: MoneyLimit) -> MoneyLimit:
    """A fraction's limit in percent (0.1 -> 10 %), for a form that asks in percent: the
    same bounds, two fewer decimal places."""
    return MoneyLimit(limit.label, limit.minimum * _HUNDRED, limit.maximum * _HUNDRED,
                      max(limit.decimal_places - 2, 0))


def _money(name: str, raw: Any, limit: MoneyLimit) -> float:
    """`raw` checked against the limit every other surface applies (trading.core.money), as the
    float the simulation computes with."""
    return float(limit.check(raw, field=name))


def _number(name: str, raw: Any, low: float, high: float, *, allow_low: bool = False) -> float:
    """A finite float in (low, high], or [low, high] with allow_low; else ValidationFailed."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{name} must be a number, got {raw!r}.", field=name) from None
    too_low = value < low if allow_low else value <= low
    if isinstance(raw, bool) or not math.isfinite(value) or too_low or value > high:
        lower = f">= {low:g}" if allow_low else f"> {low:g}"
        raise ValidationFailed(f"{name} must be {lower} and <= {high:g}, got {raw!r}.",
                               field=name)
    return value
