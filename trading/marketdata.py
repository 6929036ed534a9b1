"""Shared market data: one fetch per (exchange, symbol, timeframe) per candle period.

Every bot of every tenant on BTC/USDT 1m reads the same cached candles: the first reader in
a period fetches (holding a short lock so concurrent readers do not fetch too), the rest hit
the cache. The cache is Redis in services mode, so the sharing spans processes and machines;
a process-local memo in front of it avoids re-reading the same period for every bot.
Freshness (when fetched, newest candle, last error) is recorded on MarketFeed.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from django.core.cache import cache

from trading.candles import Candles
from trading.timeframes import timeframe_ms

logger = logging.getLogger(__name__)

CANDLE_LIMIT = 300
LOCK_SECONDS = 10
_memo: dict[str, tuple[int, MarketSnapshot]] = {}
_memo_lock = threading.Lock()


class MarketSource(Protocol):
    """Where candles come from: a live exchange or a replayed file, with its own clock."""

    def now_ms(self) -> int: ...

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                    limit: int | None = None) -> list[list]: ...


@dataclass(frozen=True)
class MarketSnapshot:
    """Candles of one feed as of one fetch. The last row may still be forming."""

    candles: Candles
    fetched_at_ms: int
    now_ms: int
    timeframe: str

    def closed(self) -> Candles:
        """Only candles whose period has ended at `now_ms` (strategies see nothing else)."""
        period = timeframe_ms(self.timeframe)
        count = int((self.candles.timestamp + period <= self.now_ms).sum())
        return self.candles[:count]

    def age_ms(self, now_ms: int) -> int:
        """How far the newest closed candle lags behind `now_ms`, in ms past its close."""
        closed = self.closed()
        if not len(closed):
            return now_ms
        return now_ms - (int(closed.timestamp[-1]) + timeframe_ms(self.timeframe))


class MarketDataUnavailable(Exception):
    """No candles could be read for a feed (fetch failed and nothing is cached)."""


def feed_key(exchange_id: str, symbol: str, timeframe: str) -> str:
    return f"md:{exchange_id}:{symbol}:{timeframe}"


def get_snapshot(source: MarketSource, exchange_id: str, symbol: str,
                 timeframe: str) -> MarketSnapshot:
    """The shared candles of a feed for the current period, fetching at most once per period."""
    now_ms = source.now_ms()
    period = now_ms // timeframe_ms(timeframe)
    key = feed_key(exchange_id, symbol, timeframe)
    with _memo_lock:
        memo = _memo.get(key)
    if memo is not None and memo[0] == period:
        return _at(memo[1], now_ms)
    snapshot = _cached_or_fetched(source, key, period, exchange_id, symbol, timeframe, now_ms)
    with _memo_lock:
        _memo[key] = (period, snapshot)
    return _at(snapshot, now_ms)


def _at(snapshot: MarketSnapshot, now_ms: int) -> MarketSnapshot:
    if snapshot.now_ms == now_ms:
        return snapshot
    return MarketSnapshot(snapshot.candles, snapshot.fetched_at_ms, now_ms, snapshot.timeframe)


def _cached_or_fetched(source: MarketSource, key: str, period: int, exchange_id: str,
                       symbol: str, timeframe: str, now_ms: int) -> MarketSnapshot:
    cached = cache.get(key)
    if cached is not None and cached["period"] == period:
        return _snapshot_from(cached, now_ms, timeframe)
    if not cache.add(f"{key}:lock", 1, LOCK_SECONDS):
        # Someone else is fetching this period: wait briefly for their result.
        waited = _wait_for_period(key, period)
        if waited is not None:
            return _snapshot_from(waited, now_ms, timeframe)
    try:
        return _fetch(source, key, period, exchange_id, symbol, timeframe, now_ms, cached)
    finally:
        cache.delete(f"{key}:lock")


def _wait_for_period(key: str, period: int) -> dict | None:
    for _ in range(20):
        time.sleep(0.05)
        cached = cache.get(key)
        if cached is not None and cached["period"] == period:
            return cached
    return None


def _fetch(source: MarketSource, key: str, period: int, exchange_id: str, symbol: str,
           timeframe: str, now_ms: int, cached: dict | None) -> MarketSnapshot:
    from trading.services.market import market_feed_record

    try:
        rows = source.fetch_ohlcv(symbol, timeframe, limit=CANDLE_LIMIT)
    except Exception as exc:  # any source failure: keep serving the last data, flagged stale
        market_feed_record(exchange_id=exchange_id, symbol=symbol, timeframe=timeframe,
                           error=f"{type(exc).__name__}: {exc}"[:300])
        if cached is None:
            raise MarketDataUnavailable(f"No market data for {symbol} {timeframe}.") from exc
        return _snapshot_from(cached, now_ms, timeframe)
    entry = {"period": period, "rows": rows, "fetched_at": now_ms}
    cache.set(key, entry, timeout=max(60, 3 * timeframe_ms(timeframe) // 1000))
    last_ts = int(rows[-1][0]) if rows else None
    market_feed_record(exchange_id=exchange_id, symbol=symbol, timeframe=timeframe,
                       last_candle_ts=last_ts)
    return _snapshot_from(entry, now_ms, timeframe)


def _snapshot_from(entry: dict, now_ms: int, timeframe: str) -> MarketSnapshot:
    return MarketSnapshot(Candles.from_rows(entry["rows"]), entry["fetched_at"], now_ms,
                          timeframe)


def forget_local_memo() -> None:
    """Drop the process-local memo (tests, and after the source changes)."""
    with _memo_lock:
        _memo.clear()
