"""Shared market data a tenant does not own: feed freshness and the market catalogue.

The catalogue says which markets and timeframes an exchange serves on this server: a replay's
files (with the timeframes resampled from them), or the exchange's own markets from ccxt
`load_markets`, kept in the shared cache for every tenant and refreshed on a schedule.
Bots trade on this server's feed, so they are checked against `market_catalogue`; a history
download reads the exchange's public API whatever the feed is, so it is checked against the
exchange's own list (`exchange_catalogue`), cached the same way even on a replaying server.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial

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
    return exchange_catalogue(exchange_id=exchange_id)


def exchange_catalogue(*, exchange_id: str) -> Catalogue | None:
    """The exchange's own markets (what its public API serves, so what a history download
    can fetch), on a replaying server too; None when not cached yet or unknown.

    Read from the shared cache only: a miss asks a worker (the job pool in the embedded
    default) to refresh it, at most once a minute, and never waits for the exchange."""
    key = _catalogue_key(exchange_id)
    cached = cache.get(key)
    if cached is None and cache.add(f"{key}:asked", True, REFRESH_ASKED_SECONDS):
        from trading.tasks import refresh_market_catalogue  # tasks import the services

        refresh_market_catalogue.delay(exchange_id)
        cached = cache.get(key)  # a refresh run in the caller (no job pool) has filled it
    return cached


def exchange_catalogue_cached(*, exchange_id: str) -> Catalogue | None:
    """The exchange's own markets if the shared cache holds them, else None; asks nobody."""
    return cache.get(_catalogue_key(exchange_id))


def market_catalogue_refresh(*, exchange_id: str) -> Catalogue | None:
    """Ask the exchange for its own markets and keep them in the shared cache; None (and the
    cache left as it was) when the source has no catalogue or the exchange did not answer.
    On a replaying server the exchange is asked through a public client, not the replay."""
    read = _exchange_markets_reader(exchange_id)
    if read is None:
        return None
    try:
        catalogue = read()
    except ExchangeError as exc:
        logger.warning("market catalogue of %s not refreshed: %s", exchange_id, exc)
        return None
    cache.set(_catalogue_key(exchange_id), catalogue, CATALOGUE_TTL_SECONDS)
    return catalogue


def _exchange_markets_reader(exchange_id: str) -> Callable[[], Catalogue] | None:
    """How to read the exchange's own markets: through this server's feed when it is the
    exchange, else (a replay) through a credential-less client of the exchange."""
    if not replays_samples(exchange_id):
        return getattr(market_source(exchange_id), "catalogue", None)
    return partial(_public_catalogue, exchange_id)


def _public_catalogue(exchange_id: str) -> Catalogue:
    # Imported here: ccxt loads only in the worker that asks an exchange.
    from trading.exchanges.live_clients import live_exchange_for_keys

    client = live_exchange_for_keys(exchange_id, None, None)
    try:
        return client.catalogue()
    finally:
        client.close()


def market_catalogues_refresh_all() -> int:
    """Refresh the catalogue of every exchange an account uses (beat); returns how many.
    A replaying server's exchange is refreshed only once its list was asked for (a
    download form or request): an offline demo must not ask the exchange every hour."""
    exchanges = (ExchangeAccount.objects
                 .all_tenants(reason="the market catalogue is shared by every tenant")
                 .values_list("exchange_id", flat=True).distinct())
    return sum(market_catalogue_refresh(exchange_id=exchange_id) is not None
               for exchange_id in sorted(set(exchanges))
               if not replays_samples(exchange_id) or _asked_for(exchange_id))


def _asked_for(exchange_id: str) -> bool:
    key = _catalogue_key(exchange_id)
    return cache.get(key) is not None or cache.get(f"{key}:asked") is not None


def market_check(*, exchange_id: str, symbol: str, timeframe: str) -> None:
    """ValidationFailed (naming `symbol` or `timeframe`) unless the catalogue of
    `exchange_id` offers the market in that timeframe. An unknown catalogue passes: the
    feed's own breakers pause a bot whose market turns out to have no data."""
    catalogue = market_catalogue(exchange_id=exchange_id)
    if catalogue is not None:
        _require_listed(catalogue, symbol, timeframe,
                        missing=f"{symbol} is not a market on {exchange_id} here; choose one of",
                        no_timeframe=f"{symbol} has no {timeframe} candles on {exchange_id} here")


def exchange_market_check(*, exchange_id: str, symbol: str, timeframe: str,
                          catalogue: Catalogue | None = None) -> None:
    """ValidationFailed (naming `symbol` or `timeframe`) unless the exchange itself lists
    the market in that timeframe (`catalogue`, default its cached list). An unknown list
    passes: the exchange answers the download job, which records why it failed."""
    if catalogue is None:
        catalogue = exchange_catalogue(exchange_id=exchange_id)
    if catalogue is not None:
        _require_listed(catalogue, symbol, timeframe,
                        missing=f"{symbol} is not listed on {exchange_id}; it lists",
                        no_timeframe=f"{exchange_id} publishes no {timeframe} candles of {symbol}")


def _require_listed(catalogue: Catalogue, symbol: str, timeframe: str, *, missing: str,
                    no_timeframe: str) -> None:
    """ValidationFailed naming `symbol` (`missing`, then what is listed) or `timeframe`
    (`no_timeframe`, then the symbol's timeframes) unless `catalogue` has the market."""
    if symbol not in catalogue:
        raise ValidationFailed(f"{missing} {_listed(catalogue)}.", field="symbol")
    if timeframe not in catalogue[symbol]:
        raise ValidationFailed(f"{no_timeframe}; choose one of {', '.join(catalogue[symbol])}.",
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


def exchange_market_offer(*, exchange_ids: Iterable[str]) -> list[str]:
    """The symbols a history download form suggests: those the exchanges themselves list,
    where the shared cache holds their lists (a page asks no exchange, nor queues a job);
    none where it does not, and the form takes any well-formed symbol."""
    symbols: set[str] = set()
    for exchange_id in sorted(set(exchange_ids)):
        symbols.update(exchange_catalogue_cached(exchange_id=exchange_id) or ())
    return sorted(symbols)
