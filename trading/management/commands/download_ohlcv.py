"""python manage.py download_ohlcv --exchange binance --symbol BTC/USDT --timeframe 1h
--since 2024-01-01 [--until 2024-06-01] [--out PATH]

Fetches real history through ccxt (public endpoints, no key) and writes the project's candle
CSV, ready for replay, backtests and training; the candles also go into the stored history
(AITRADER_HISTORY_DIR), which `backtest --stored` reads. Needs a network; without one it says
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
from trading.core.candles import Candles, parse_timestamp, write_csv
from trading.core.history import HistoryError, history_write
from trading.core.timeframes import SUPPORTED
from trading.exchanges.base import PermanentExchangeError, TemporaryExchangeError
from trading.exchanges.live import LiveExchange, fetch_ohlcv_history

UNREACHABLE = 2


class Command(BaseCommand):
    """Thin CLI over `fetch_ohlcv_history`, the candle CSV writer and the history store."""

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
        out = options["out"] or _default_path(options["exchange"], options["symbol"],
                                              options["timeframe"])
        rows = _download(options, until_ms)
        if not rows:
            raise CommandError(f"{options['exchange']} returned no {options['symbol']} "
                               f"{options['timeframe']} candles in that period.")
        candles = Candles.from_rows(rows)
        write_csv(out, candles)
        root = settings.AITRADER_HISTORY_DIR
        try:
            history_write(root, options["exchange"], options["symbol"], options["timeframe"],
                          candles)
        except HistoryError as exc:
            raise CommandError(f"wrote {out}, but could not store the candles: {exc}") from None
        self.stdout.write(f"Wrote {len(rows)} candles ({_iso(rows[0][0])} to "
                          f"{_iso(rows[-1][0])}) to {out}; stored in {root}")


def _download(options: dict, until_ms: int) -> list[list]:
    """Page through the exchange; its failures become one-line CommandErrors."""
    name = options["exchange"]
    try:
        exchange = LiveExchange(name, urls_api=options["api_url"])
    except PermanentExchangeError as exc:
        raise CommandError(str(exc)) from None
    try:
        return fetch_ohlcv_history(exchange, options["symbol"], options["timeframe"],
                                   options["since"], until_ms, retries=options["retries"])
    except TemporaryExchangeError as exc:
        raise CommandError(f"cannot reach {name} (no network, or the exchange is down): {exc}",
                           returncode=UNREACHABLE) from None
    except (PermanentExchangeError, ServiceError) as exc:
        raise CommandError(f"{name} refused the download: {exc}") from None
    finally:
        exchange.close()


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
