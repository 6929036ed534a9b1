"""Candle timeframes as the exchanges name them ("1m", "1h", "1d") and their length in ms."""
from __future__ import annotations

from trading.core.errors import ValidationFailed

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
SUPPORTED = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w")


def timeframe_ms(timeframe: str) -> int:
    """Milliseconds in one candle of `timeframe`; ValidationFailed for anything unsupported."""
    if timeframe not in SUPPORTED:
        raise ValidationFailed(f"Unsupported timeframe '{timeframe}'; choose one of "
                               f"{', '.join(SUPPORTED)}.", field="timeframe")
    return int(timeframe[:-1]) * _UNIT_MS[timeframe[-1]]
