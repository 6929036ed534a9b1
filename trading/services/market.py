"""Shared market data a tenant does not own: feed freshness and the market catalogue.

The catalogue says which markets and timeframes an exchange serves on this server: a replay's
files (with the timeframes resampled from them), or the exchange's own markets from ccxt
`load_markets`, kept in the shared cache for every tenant and refreshed on a schedule.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from aitrader.errors import ValidationFailed
from trading.core.timeframes import SUPPORTED, timeframe_ms
from trading.exchanges.base import ExchangeError
from trading.exchanges.factory import market_source, replays_samples
from trading.models import ExchangeAccount, MarketFeed

logger = logging.getLogger(__name__)
Catalogue = dict[str, tuple[str, ...]]
# An exchange lists new markets rarely; the beat task refreshes well before this runs out.
CATALOGUE_TTL_SECONDS = 6 * 3600
# A missing catalogue is asked for at most this often, so an exchange that is down is not
# asked again by every page that offers its markets.
REFRESH_ASKED_SECONDS = 60
# Named in refusals: more would be a wall of text, the page and API list them all.
SHOWN_IN_ERRORS = 8


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


def _catalogue_key(exchange_id: str) -> str:
    return f"market-catalogue:{exchange_id}"


def market_catalogue(*, exchange_id: str) -> Catalogue | None:
    """The markets (symbol -> timeframes) `exchange_id` serves here; None when unknown (a
    source without a catalogue, or an exchange not asked yet or that did not answer).

    An exchange's catalogue is read from the shared cache only: pages and services never ask
    the exchange themselves. A miss asks a worker to refresh it (once a minute at most)."""
    if replays_samples(exchange_id):
        return market_source(exchange_id).catalogue()  # local files, what the replay serves
    key = _catalogue_key(exchange_id)
    cached = cache.get(key)
    if cached is None and cache.add(f"{key}:asked", True, REFRESH_ASKED_SECONDS):
        from trading.tasks import refresh_market_catalogue  # tasks import the services

        refresh_market_catalogue.delay(exchange_id)
        cached = cache.get(key)  # an in-process (eager) refresh has filled it already
    return cached


def market_catalogue_refresh(*, exchange_id: str) -> Catalogue | None:
    """Ask the exchange for its markets and keep them in the shared cache; None (and the
    cache left as it was) when the source has no catalogue or the exchange did not answer."""
    read = getattr(market_source(exchange_id), "catalogue", None)
    if read is None:
        return None
    try:
        catalogue = read()
    except ExchangeError as exc:
        logger.warning("market catalogue of %s not refreshed: %s", exchange_id, exc)
        return None
    cache.set(_catalogue_key(exchange_id), catalogue, CATALOGUE_TTL_SECONDS)
    return catalogue


def market_catalogues_refresh_all() -> int:
    """Refresh the catalogue of every exchange an account uses (beat); returns how many."""
    exchanges = (ExchangeAccount.objects
                 .all_tenants(reason="the market catalogue is shared by every tenant")
                 .values_list("exchange_id", flat=True).distinct())
    return sum(market_catalogue_refresh(exchange_id=exchange_id) is not None
               for exchange_id in sorted(set(exchanges)))


def market_check(*, exchange_id: str, symbol: str, timeframe: str) -> None:
    """ValidationFailed (naming `symbol` or `timeframe`) unless the catalogue of
    `exchange_id` offers the market in that timeframe. An unknown catalogue passes: the
    feed's own breakers pause a bot whose market turns out to have no data."""
    catalogue = market_catalogue(exchange_id=exchange_id)
    if catalogue is None:
        return
    if symbol not in catalogue:
        raise ValidationFailed(f"{symbol} is not a market on {exchange_id} here; choose one of "
                               f"{_listed(catalogue)}.", field="symbol")
    if timeframe not in catalogue[symbol]:
        raise ValidationFailed(f"{symbol} has no {timeframe} candles on {exchange_id} here; "
                               f"choose one of {', '.join(catalogue[symbol])}.",
                               field="timeframe")


def _listed(catalogue: Catalogue) -> str:
    symbols = list(catalogue)
    shown = ", ".join(symbols[:SHOWN_IN_ERRORS])
    hidden = len(symbols) - SHOWN_IN_ERRORS
    return shown if hidden <= 0 else f"{shown} (and {hidden} more)"


def market_offer(*, exchange_ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """The symbols and timeframes a form offers across these exchanges' catalogues; the
    service still checks the exact pair against the chosen account's exchange. Where no
    catalogue is known, every supported timeframe is offered and no symbol suggested."""
    symbols: set[str] = set()
    timeframes: set[str] = set()
    for exchange_id in sorted(set(exchange_ids)):
        catalogue = market_catalogue(exchange_id=exchange_id)
        if catalogue is None:
            timeframes.update(SUPPORTED)
            continue
        symbols.update(catalogue)
        for offered in catalogue.values():
            timeframes.update(offered)
    return sorted(symbols), sorted(timeframes or SUPPORTED, key=timeframe_ms)
