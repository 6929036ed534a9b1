"""Risk settings and the three presets a user picks from (conservative, balanced, aggressive).

Percentages are in percent (3.0 means 3 %); `None` switches a protection off. The bare
defaults are the backtest contract: the whole equity per trade and no protections, so a
backtest without a preset measures the strategy alone. Bots normally start from a preset.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from trading.core.errors import ValidationFailed

# name: (smallest, largest) allowed; None in a bound means unbounded on that side.
_PERCENT_LIMITS = {
    "stop_loss_pct": (0.01, 99.0),
    "take_profit_pct": (0.01, 10_000.0),
    "daily_loss_limit_pct": (0.01, 100.0),
    "max_drawdown_pct": (0.01, 100.0),
}


@dataclass(frozen=True)
class RiskSettings:
    """How much each trade stakes and which protections stop it (None: protection off)."""

    stake_fraction: float = 1.0  # of current equity per position (split across DCA entries)
    stop_loss_pct: float | None = None  # below the average entry price
    take_profit_pct: float | None = None  # above the average entry price
    max_open_positions: int = 1  # per bot, across symbols; a one-symbol backtest holds one
    daily_loss_limit_pct: float | None = None  # no new entries for the rest of the UTC day
    max_drawdown_pct: float | None = None  # from the equity peak: close out and pause the bot
    cooldown_candles: int = 0  # no new entry for this many candles after a stop loss

    def __post_init__(self) -> None:
        _check_number("stake_fraction", self.stake_fraction, 0.0001, 1.0)
        for name, (low, high) in _PERCENT_LIMITS.items():
            value = getattr(self, name)
            if value is not None:
                _check_number(name, value, low, high)
        _check_whole("max_open_positions", self.max_open_positions, 1, 1000)
        _check_whole("cooldown_candles", self.cooldown_candles, 0, 100_000)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RiskSettings:
        """Settings from JSON/form data (strings accepted); unknown names are refused."""
        return cls().with_overrides(data)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> RiskSettings:
        """A copy with `overrides` applied and validated; "" or None switches a % off."""
        if overrides is not None and not isinstance(overrides, Mapping):  # JSON "risk": "x"
            raise ValidationFailed("risk must map risk settings to values.", field="risk")
        changes = {name: _coerce(name, raw) for name, raw in (overrides or {}).items()}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings (the inverse of from_dict)."""
        return asdict(self)


_FIELD_NAMES = tuple(field.name for field in fields(RiskSettings))
_WHOLE_FIELDS = ("max_open_positions", "cooldown_candles")


def _coerce(name: str, raw: Any) -> Any:
    if name not in _FIELD_NAMES:
        raise ValidationFailed(f"Unknown risk setting {name!r}; allowed: "
                               f"{', '.join(_FIELD_NAMES)}.", field=name)
    if name in _PERCENT_LIMITS and (raw is None or raw == ""):
        return None
    if isinstance(raw, bool):
        raise ValidationFailed(f"Risk setting {name} must be a number.", field=name)
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(f"Risk setting {name} must be a number, got {raw!r}.",
                               field=name) from None
    if name in _WHOLE_FIELDS:
        if not number.is_integer():
            raise ValidationFailed(f"Risk setting {name} must be a whole number.", field=name)
        return int(number)
    return number


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationFailed(f"Risk setting {name} must be a number.", field=name)
    if not low <= value <= high:
        raise ValidationFailed(f"Risk setting {name} must be between {low:g} and {high:g}, "
                               f"got {value:g}.", field=name)


def _check_whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"Risk setting {name} must be a whole number.", field=name)
    if not low <= value <= high:
        raise ValidationFailed(f"Risk setting {name} must be between {low} and {high}, "
                               f"got {value}.", field=name)


PRESETS: dict[str, RiskSettings] = {
    # Small stakes, tight stops, an early pause: for a first live bot.
    "conservative": RiskSettings(stake_fraction=0.25, stop_loss_pct=3.0, take_profit_pct=6.0,
                                 max_open_positions=2, daily_loss_limit_pct=2.0,
                                 max_drawdown_pct=10.0, cooldown_candles=12),
    "balanced": RiskSettings(stake_fraction=0.5, stop_loss_pct=5.0, take_profit_pct=10.0,
                             max_open_positions=3, daily_loss_limit_pct=4.0,
                             max_drawdown_pct=20.0, cooldown_candles=6),
    # Whole equity per trade, wide stops: the strategy's own exits do most of the work.
    "aggressive": RiskSettings(stake_fraction=1.0, stop_loss_pct=10.0, take_profit_pct=25.0,
                               max_open_positions=5, daily_loss_limit_pct=8.0,
                               max_drawdown_pct=35.0, cooldown_candles=2),
}


def risk_for(preset: str | None = None,
             overrides: Mapping[str, Any] | None = None) -> RiskSettings:
    """The preset's settings (or the bare defaults for None/"") with `overrides` applied."""
    if preset in (None, ""):
        base = RiskSettings()
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValidationFailed(f"Unknown preset {preset!r}; choose one of: "
                               f"{', '.join(PRESETS)}.", field="preset")
    return base.with_overrides(overrides)
