"""Which exchange object serves an account, and where shared market data comes from."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from django.conf import settings

from trading.core.candles import Candles
from trading.exchanges.paper import PaperExchange
from trading.models import ExchangeAccount, TradingMode

_sources: dict[str, object] = {}
_sources_lock = threading.Lock()


class WallClockSource:
    """Live market data through a public (credential-less) ccxt client, on the wall clock.

    The client honours `trading.exchanges.live_clients.set_live_connection` (a sandbox or a
    stand-in) like the signed clients do.
    """

    def __init__(self, exchange_id: str) -> None:
        # Imported at first use, like every path to a live client: ccxt (~65 MB) loads only
        # in a process that talks to a real exchange, never in one that serves pages.
        from trading.exchanges.live_clients import live_exchange_for_keys

        self.exchange = live_exchange_for_keys(exchange_id, None, None)

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def fetch_ohlcv(self, symbol, timeframe, since_ms=None, limit=None):
        return self.exchange.fetch_ohlcv(symbol, timeframe, since_ms=since_ms, limit=limit)

    def fetch_ticker(self, symbol):
        """The newest price between candle closes (see trading.marketdata.get_newest_price)."""
        return self.exchange.fetch_ticker(symbol)

    def catalogue(self) -> dict[str, tuple[str, ...]]:
        """The exchange's own spot markets and timeframes (a network call: cache it)."""
        return self.exchange.catalogue()


def replay_directory() -> Path:
    return Path(settings.AITRADER_REPLAY_DIR)


def market_source(exchange_id: str):
    """The process-wide market-data source of an exchange (replayed files or the exchange)."""
    with _sources_lock:
        source = _sources.get(exchange_id)
        if source is None:
            source = _build_source(exchange_id)
            _sources[exchange_id] = source
        return source


def _build_source(exchange_id: str):
    if settings.AITRADER_MARKET_DATA_SOURCE == "replay":
        from trading.exchanges.replay import WARM_UP_CANDLES, replay_source_for

        return replay_source_for(replay_directory(), speed=settings.AITRADER_REPLAY_SPEED,
                                 start_index=WARM_UP_CANDLES + replayed_since_first_start())
    return WallClockSource(exchange_id)


def replays_samples(exchange_id: str) -> bool:
    """Whether this server's feed of `exchange_id` replays sample candles, known without
    building the feed (a page process must not load an exchange client to find out)."""
    with _sources_lock:
        source = _sources.get(exchange_id)
    if source is not None:
        return bool(getattr(source, "replays_samples", False))
    return settings.AITRADER_MARKET_DATA_SOURCE == "replay"


def replayed_data_refusal(exchange_id: str) -> str | None:
    """Why a live account on `exchange_id` may not trade on this server's market data (it
    replays sample candles), or None when the data is the exchange's own."""
    if not replays_samples(exchange_id):
        return None
    return ("live trading needs the exchange's own market data, and this server replays "
            "sample candles (set AITRADER_MARKET_DATA_SOURCE=exchange)")


def replayed_since_first_start() -> int:
    """One-minute candles replayed since this installation first started its replay.

    The replay's position follows the wall clock from a start time kept under var/, so a
    restarted server carries on where it was instead of going back to candles its bots have
    already seen (which would look like a stale feed).
    """
    anchor_file = Path(settings.VAR_DIR) / "replay_anchor"
    if not anchor_file.exists():
        anchor_file.write_text(str(time.time()))
    started = float(anchor_file.read_text().strip() or time.time())
    elapsed_ms = max(0.0, time.time() - started) * 1000 * settings.AITRADER_REPLAY_SPEED
    return int(elapsed_ms // 60_000)


def set_market_source(exchange_id: str, source) -> None:
    """Install a source for an exchange (the demo, benchmarks and tests choose their feed)."""
    with _sources_lock:
        _sources[exchange_id] = source


def reset_market_sources() -> None:
    with _sources_lock:
        _sources.clear()


def exchange_for(account: ExchangeAccount, closed_candles: Candles):
    """The exchange that executes `account`'s orders: paper simulation or the live venue."""
    if account.mode == TradingMode.PAPER:
        return PaperExchange(account, lambda symbol: closed_candles)
    return live_exchange(account)


def live_exchange(account: ExchangeAccount):
    """The live venue of `account`, signed with its keys from the vault (shared per process)."""
    # Imported at first use: ccxt loads only in a process that trades on a live account.
    from trading.exchanges.live_clients import live_exchange_for_account, require_credentials

    require_credentials(account)
    return live_exchange_for_account(account)
