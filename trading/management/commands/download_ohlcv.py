"""python manage.py download_ohlcv --exchange binance --symbol BTC/USDT --timeframe 1h
--since 2024-01-01 [--until 2024-06-01] [--out PATH]

Fetches real history through ccxt (public endpoints, no key) into the shared stored history
(AITRADER_HISTORY_DIR, which `backtest --stored` reads) through the same service as the
Backtests page's download form, and writes the project's candle CSV of it, ready for replay,
backtests and training. Needs a network; without one it says
so in one line and exits with status 2.
"""
from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ServiceError
from trading.core.candles import parse_timestamp, write_csv
from trading.core.history import HistoryError, history_read
from trading.core.timeframes import SUPPORTED
from trading.exchanges.base import PermanentExchangeError, TemporaryExchangeError
from trading.services.candle_history import DownloadOutcome, history_download_fetch

UNREACHABLE = 2


class Command(BaseCommand):
    """Thin CLI over `history_download_fetch` and the candle CSV writer."""

    help = "Download OHLCV history from an exchange into the project's candle CSV format."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
        parser.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
        parser.add_argument("--timeframe", required=True, choices=SUPPORTED)
        parser.add_argument("--since", required=True, type=_moment,
                            help="first candle: ISO date/time (UTC) or epoch ms")
        parser.add_argument("--until", type=_moment, default=None,
                            help="stop before this moment (default: now)")
        parser.add_argument("--out", type=Path, default=None,
                            help="CSV path (default: var/ohlcv/EXCHANGE-BASE-QUOTE-TF.csv)")
        # For tests and proxies: the exchange API's base URL, and how often to retry a read.
        parser.add_argument("--api-url", default=None, help=argparse.SUPPRESS)
        parser.add_argument("--retries", type=int, default=3, help=argparse.SUPPRESS)

    def handle(self, *args, **options) -> None:
        until_ms = options["until"] or int(time.time() * 1000)
        if options["since"] >= until_ms:
            raise CommandError("--since must be earlier than --until.")
        exchange, symbol, timeframe = options["exchange"], options["symbol"], options["timeframe"]
        out = options["out"] or _default_path(exchange, symbol, timeframe)
        outcome = _download(options, until_ms)
        if not outcome.candles:
            raise CommandError(f"{exchange} returned no {symbol} {timeframe} candles in that "
                               "period.")
        root = settings.AITRADER_HISTORY_DIR
        # The CSV holds what the store now has for the period the exchange answered.
        write_csv(out, history_read(root, exchange, symbol, timeframe, outcome.first_ms,
                                    outcome.last_ms + 1))
        self.stdout.write(f"Wrote {outcome.candles} candles ({_iso(outcome.first_ms)} to "
                          f"{_iso(outcome.last_ms)}) to {out}; stored in {root}")


def _download(options: dict, until_ms: int) -> DownloadOutcome:
    """Fetch and store through the service; its failures become one-line CommandErrors."""
    name = options["exchange"]
    try:
        return history_download_fetch(exchange=name, symbol=options["symbol"],
                                      timeframe=options["timeframe"],
                                      since_ms=options["since"], until_ms=until_ms,
                                      urls_api=options["api_url"], retries=options["retries"])
    except TemporaryExchangeError as exc:
        raise CommandError(f"cannot reach {name} (no network, or the exchange is down): {exc}",
                           returncode=UNREACHABLE) from None
    except (PermanentExchangeError, ServiceError) as exc:
        raise CommandError(f"{name} refused the download: {exc}") from None
    except HistoryError as exc:
        raise CommandError(f"could not store the candles: {exc}") from None


def _moment(raw: str) -> int:
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is neither an ISO date/time nor epoch ms") from None


def _default_path(exchange: str, symbol: str, timeframe: str) -> Path:
    return Path(settings.VAR_DIR) / "ohlcv" / f"{exchange}-{symbol.replace('/', '-')}-" \
                                              f"{timeframe}.csv"


def _iso(timestamp_ms: float) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")
