"""Shared market data: one fetch per (exchange, symbol, timeframe) per candle period.

Every bot of every tenant on BTC/USDT 1m reads the same cached candles: the first reader in
a period fetches (holding a short lock so concurrent readers do not fetch too), the rest hit
the cache. The cache is Redis in services mode, so the sharing spans processes and machines;
a process-local memo in front of it avoids re-reading the same period for every bot.
Freshness (when fetched, newest candle, last error) is recorded on MarketFeed.

How many candles a fetch reads is sized by the readers: each states the closed candles its
strategy needs (its warm-up plus the candle it decides on), and the period's fetch reads the
largest need stated in this period or the last, capped at MAX_FEED_CANDLES (the longest
warm-up the strategies' parameter bounds allow). So a bot with a 5,000-candle average signals
live, and the feed is still fetched once per period for every bot on it: a larger need first
seen mid-period costs one more fetch, once.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.core.cache import cache

from trading.core.candles import Candles
from trading.core.strategies import longest_warmup
from trading.core.timeframes import timeframe_ms

logger = logging.getLogger(__name__)

CANDLE_LIMIT = 300  # the smallest fetch: room for a tick that comes late to look back
# The most a feed ever reads: the longest warm-up allowed, the candle decided on, the forming one.
MAX_FEED_CANDLES = longest_warmup() + 2
PAGE_LIMIT = 1000  # candles per request (Binance's cap); a longer window is read in pages
LOCK_SECONDS = 10
_memo: dict[str, tuple[int, MarketSnapshot]] = {}
_memo_lock = threading.Lock()
_needs_seen: dict[str, tuple[int, int]] = {}  # feed key -> (period, largest need recorded)


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
    limit: int = CANDLE_LIMIT  # how many rows the fetch asked for

    def covers(self, need: int) -> bool:
        """True when this fetch serves a reader needing `need` rows (see `_covers`)."""
        return _covers(self.limit, len(self.candles), need)

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


def fetch_limit(candles: int) -> int:
    """Rows to fetch for a reader needing `candles` closed candles: those plus the forming
    one, at least CANDLE_LIMIT, at most MAX_FEED_CANDLES."""
    return min(max(CANDLE_LIMIT, int(candles) + 1), MAX_FEED_CANDLES)


def get_snapshot(source: MarketSource, exchange_id: str, symbol: str, timeframe: str, *,
                 candles: int = 0) -> MarketSnapshot:
    """The shared candles of a feed for the current period, holding at least `candles` closed
    candles where the exchange has them; fetching once per period (see the module docstring).
    """
    now_ms = source.now_ms()
    period = now_ms // timeframe_ms(timeframe)
    key = feed_key(exchange_id, symbol, timeframe)
    need = fetch_limit(candles)
    _record_need(key, period, need, timeframe)
    with _memo_lock:
        memo = _memo.get(key)
    if memo is not None and memo[0] == period and memo[1].covers(need):
        return _at(memo[1], now_ms)
    snapshot = _cached_or_fetched(source, key, period, exchange_id, symbol, timeframe, now_ms,
                                  need)
    with _memo_lock:
        _memo[key] = (period, snapshot)
    return _at(snapshot, now_ms)


def _need_key(key: str, period: int) -> str:
    return f"{key}:need:{period}"


def _record_need(key: str, period: int, need: int, timeframe: str) -> None:
    """Remember the largest need stated for the feed in this period, across processes, so
    the next period's fetch is sized for every bot on it whichever reads first. A need not
    stated again (its bot was stopped) is forgotten after a period."""
    with _memo_lock:
        seen = _needs_seen.get(key)
        if seen is not None and seen[0] == period and seen[1] >= need:
            return
        _needs_seen[key] = (period, need)
    # Read-then-set may lose to a concurrent larger need; that costs one refetch, no more.
    if need > (cache.get(_need_key(key, period)) or 0):
        cache.set(_need_key(key, period), need,
                  timeout=max(60, 3 * timeframe_ms(timeframe) // 1000))


def _period_limit(key: str, period: int, need: int) -> int:
    """The size of this period's fetch: the largest need of this period and the last."""
    stated = cache.get_many([_need_key(key, period), _need_key(key, period - 1)])
    return min(max(need, *stated.values()) if stated else need, MAX_FEED_CANDLES)


def _at(snapshot: MarketSnapshot, now_ms: int) -> MarketSnapshot:
    if snapshot.now_ms == now_ms:
        return snapshot
    return MarketSnapshot(snapshot.candles, snapshot.fetched_at_ms, now_ms, snapshot.timeframe,
                          snapshot.limit)


def _covers(limit: int, rows: int, need: int) -> bool:
    """A fetch that asked for `limit` rows and got `rows` serves a reader needing `need`: it
    asked for as many, or the exchange had fewer than asked for (more would not help)."""
    return limit >= need or rows < limit


def _serves(entry: dict | None, period: int, need: int) -> bool:
    """A cached fetch of this period that holds what a reader needing `need` rows needs."""
    return (entry is not None and entry["period"] == period
            and _covers(entry.get("limit", CANDLE_LIMIT), len(entry["rows"]), need))


def _cached_or_fetched(source: MarketSource, key: str, period: int, exchange_id: str,
                       symbol: str, timeframe: str, now_ms: int, need: int) -> MarketSnapshot:
    cached = cache.get(key)
    if _serves(cached, period, need):
        return _snapshot_from(cached, now_ms, timeframe)
    if not cache.add(f"{key}:lock", 1, LOCK_SECONDS):
        # Someone else is fetching this period: wait briefly for their result.
        waited = _wait_for_period(key, period, need)
        if waited is not None:
            return _snapshot_from(waited, now_ms, timeframe)
    try:
        limit = _period_limit(key, period, need)
        return _fetch(source, key, period, exchange_id, symbol, timeframe, now_ms, cached, limit)
    finally:
        cache.delete(f"{key}:lock")


def _wait_for_period(key: str, period: int, need: int) -> dict | None:
    for _ in range(20):
        time.sleep(0.05)
        cached = cache.get(key)
        if _serves(cached, period, need):
            return cached
    return None


def _read_rows(source: MarketSource, symbol: str, timeframe: str, limit: int,
               now_ms: int) -> list[list]:
    """The newest `limit` rows (the forming candle included): one request up to PAGE_LIMIT,
    else pages read forward from where the window starts."""
    if limit <= PAGE_LIMIT:
        return source.fetch_ohlcv(symbol, timeframe, limit=limit)
    period = timeframe_ms(timeframe)
    since = (now_ms // period - limit + 1) * period
    rows: list[list] = []
    while len(rows) < limit:
        page = [row for row in source.fetch_ohlcv(symbol, timeframe, since_ms=since,
                                                  limit=min(PAGE_LIMIT, limit - len(rows)))
                if row[0] >= since]
        if not page:
            break  # nothing newer: the forming candle was in the last page
        rows.extend(page)
        since = int(page[-1][0]) + period
    return rows[-limit:]


def _fetch(source: MarketSource, key: str, period: int, exchange_id: str, symbol: str,
           timeframe: str, now_ms: int, cached: dict | None, limit: int) -> MarketSnapshot:
    from trading.services.market import market_feed_record

    try:
        rows = _read_rows(source, symbol, timeframe, limit, now_ms)
    except Exception as exc:  # any source failure: keep serving the last data, flagged stale
        market_feed_record(exchange_id=exchange_id, symbol=symbol, timeframe=timeframe,
                           error=f"{type(exc).__name__}: {exc}"[:300])
        if cached is None:
            raise MarketDataUnavailable(f"No market data for {symbol} {timeframe}.") from exc
        return _snapshot_from(cached, now_ms, timeframe)
    entry = {"period": period, "rows": rows, "fetched_at": now_ms, "limit": limit}
    cache.set(key, entry, timeout=max(60, 3 * timeframe_ms(timeframe) // 1000))
    last_ts = int(rows[-1][0]) if rows else None
    market_feed_record(exchange_id=exchange_id, symbol=symbol, timeframe=timeframe,
                       last_candle_ts=last_ts)
    return _snapshot_from(entry, now_ms, timeframe)


def _snapshot_from(entry: dict, now_ms: int, timeframe: str) -> MarketSnapshot:
    return MarketSnapshot(Candles.from_rows(entry["rows"]), entry["fetched_at"], now_ms,
                          timeframe, entry.get("limit", CANDLE_LIMIT))


# --- The newest price: one ticker per (exchange, symbol) per tick interval ------------------
#
# A feed's candles are fetched once per candle period, so on a 1h feed the forming candle can
# be an hour old. The ticker is the newest price between closes: the first reader in a tick
# interval fetches it (under a short lock), every other bot of every tenant reads the cache.
# A source without a ticker, or a failed fetch, is remembered for the interval as "no price"
# (logged once): readers fall back to the forming candle and the exchange is not asked again.

_price_memo: dict[str, tuple[int, NewestPrice | None]] = {}


@dataclass(frozen=True)
class NewestPrice:
    """The last traded price of a market as its source reported it at `fetched_at_ms`."""

    price: Decimal
    fetched_at_ms: int


def price_key(exchange_id: str, symbol: str) -> str:
    return f"md:{exchange_id}:{symbol}:ticker"


def get_newest_price(source: MarketSource, exchange_id: str, symbol: str, *,
                     interval_ms: int) -> NewestPrice | None:
    """The shared newest price of (exchange, symbol), fetched at most once per `interval_ms`
    of the source's clock for every reader; None when the source has none this interval."""
    now_ms = source.now_ms()
    period = now_ms // max(1, interval_ms)
    key = price_key(exchange_id, symbol)
    with _memo_lock:
        memo = _price_memo.get(key)
    if memo is not None and memo[0] == period:
        return memo[1]
    entry = cache.get(key)
    if entry is None or entry["period"] != period:
        entry = _fetched_price(source, key, period, symbol, now_ms, interval_ms)
    newest = (NewestPrice(Decimal(entry["price"]), entry["fetched_at"])
              if entry is not None and entry["price"] is not None else None)
    with _memo_lock:
        _price_memo[key] = (period, newest)
    return newest


def _fetched_price(source: MarketSource, key: str, period: int, symbol: str, now_ms: int,
                   interval_ms: int) -> dict | None:
    """This interval's cache entry, fetched under the lock; None (no price, nothing cached)
    when another reader holds the lock past a short wait: waiting longer would delay ticks."""
    if not cache.add(f"{key}:lock", 1, LOCK_SECONDS):
        for _ in range(10):
            time.sleep(0.05)
            entry = cache.get(key)
            if entry is not None and entry["period"] == period:
                return entry
        return None
    try:
        entry = {"period": period, "price": _ticker_price(source, symbol),
                 "fetched_at": now_ms}
        cache.set(key, entry, timeout=max(60, 3 * interval_ms // 1000))
        return entry
    finally:
        cache.delete(f"{key}:lock")


def _ticker_price(source: MarketSource, symbol: str) -> str | None:
    """The source's last price as text (exact in the cache), or None when it has none."""
    fetch_ticker = getattr(source, "fetch_ticker", None)
    if fetch_ticker is None:
        logger.debug("market source %s has no ticker; stops between candle closes use the "
                    "forming candle", type(source).__name__)
        return None
    try:
        last = fetch_ticker(symbol).last
    except Exception as exc:  # any source failure: the forming candle serves this interval
        logger.warning("ticker of %s unavailable: %s: %s", symbol, type(exc).__name__, exc)
        return None
    return str(last) if last is not None and last.is_finite() and last > 0 else None


def forget_local_memo() -> None:
    """Drop the process-local memo (tests, and after the source changes)."""
    with _memo_lock:
        _memo.clear()
        _needs_seen.clear()
        _price_memo.clear()
