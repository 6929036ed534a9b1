"""Freshness bookkeeping of shared market-data feeds."""
from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from trading.models import MarketFeed


def market_feed_record(*, exchange_id: str, symbol: str, timeframe: str,
                       last_candle_ts: int | None = None, error: str = "") -> None:
    """Record one fetch of a feed: success (newest candle) or the error it hit."""
    feed, _ = MarketFeed.objects.get_or_create(exchange_id=exchange_id, symbol=symbol,
                                               timeframe=timeframe)
    updates: dict = {"last_error": error}
    if not error:
        updates.update(last_fetch_at=timezone.now(), last_candle_ts=last_candle_ts,
                       fetch_count=F("fetch_count") + 1)
    MarketFeed.objects.filter(pk=feed.pk).update(**updates)
