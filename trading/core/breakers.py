"""Circuit-breaker thresholds: when a bot stops trading on its own rather than trade blind."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from trading.core.errors import ValidationFailed

# The range every surface accepts for each threshold: a breaker set past its upper bound
# (stale_checks=10**22, say) would be a breaker switched off.
BOUNDS: dict[str, tuple[int, int]] = {
    "stale_checks": (1, 100),
    "stale_after_candles": (1, 100),
    "disconnect_seconds": (1, 86_400),
    "exchange_errors": (1, 100),
}


@dataclass(frozen=True)
class BreakerSettings:
    """Defaults apply unless a bot overrides them."""

    # Consecutive ticks whose newest candle is older than `stale_after_candles` periods.
    stale_checks: int = 3
    stale_after_candles: int = 2
    # Seconds the market-data source may fail before the bot pauses.
    disconnect_seconds: int = 300
    # Consecutive exchange errors (temporary or permanent) before the bot pauses.
    exchange_errors: int = 5

    @classmethod
    def from_overrides(cls, overrides: dict | None) -> BreakerSettings:
        """Defaults with `overrides` applied; ValidationFailed naming a bad key or value."""
        known = {f.name for f in fields(cls)}
        values = {}
        for name, raw in (overrides or {}).items():
            if name not in known:
                raise ValidationFailed(f"Unknown circuit-breaker setting '{name}'.",
                                       field=f"breakers.{name}")
            values[name] = _bounded_whole_number(name, raw)
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def _bounded_whole_number(name: str, raw) -> int:
    """`raw` as a whole number within BOUNDS[name]; ValidationFailed saying the range."""
    low, high = BOUNDS[name]
    why = f"Circuit-breaker setting '{name}' must be a whole number from {low} to {high}."
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValidationFailed(why, field=f"breakers.{name}")
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed(why, field=f"breakers.{name}") from None
    if not low <= value <= high:
        raise ValidationFailed(why, field=f"breakers.{name}")
    return value
