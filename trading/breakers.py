"""Circuit-breaker thresholds: when a bot stops trading on its own rather than trade blind."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from aitrader.errors import ValidationFailed


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
            try:
                values[name] = int(raw)
            except (TypeError, ValueError):
                raise ValidationFailed(f"Circuit-breaker setting '{name}' must be a whole "
                                       f"number.", field=f"breakers.{name}") from None
            if values[name] < 1:
                raise ValidationFailed(f"Circuit-breaker setting '{name}' must be at least 1.",
                                       field=f"breakers.{name}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)
