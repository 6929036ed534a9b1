"""A controllable market-data source for engine tests: the market moves when a test says so.

It is the edge of the outside world for the engine (what the replay files or an exchange are
in production); tests step it one candle at a time and count the fetches it serves.
"""
from __future__ import annotations

from trading.core.candles import Candles
from trading.core.timeframes import timeframe_ms
from trading.sampledata import generate

START_MS = 1_700_000_040_000 - 1_700_000_040_000 % 86_400_000


class SteppingMarket:
    """Serves `candles` up to a cursor; candle `cursor` is forming, earlier ones are closed."""

    def __init__(self, candles: Candles, timeframe: str = "1m", cursor: int = 60) -> None:
        self.candles = candles
        self.timeframe = timeframe
        self.cursor = cursor
        self.fetches = 0
        self.fail = False
        self.frozen_at: int | None = None

    @classmethod
    def sample(cls, n: int = 600, seed: int = 7, symbol: str = "BTC/USDT") -> SteppingMarket:
        return cls(generate(symbol, "1m", n, seed, START_MS))

    def now_ms(self) -> int:
        if self.frozen_at is not None:  # the feed stopped, time goes on
            return int(self.candles.timestamp[self.frozen_at]) + \
                (self.cursor - self.frozen_at) * timeframe_ms(self.timeframe) + 1
        return int(self.candles.timestamp[self.cursor]) + 1

    def fetch_ohlcv(self, symbol, timeframe, since_ms=None, limit=None):
        self.fetches += 1
        if self.fail:
            raise ConnectionError("feed down")
        end = (self.frozen_at if self.frozen_at is not None else self.cursor) + 1
        rows = self.candles[max(0, end - (limit or end)):end].to_rows()
        return rows

    def step(self, candles: int = 1) -> None:
        self.cursor += candles

    def freeze(self) -> None:
        """The exchange stops publishing candles while the clock keeps moving."""
        self.frozen_at = self.cursor
