"""python manage.py import_candles FILE.csv --exchange binance --symbol BTC/USDT --timeframe 1m

Reads a candle CSV (the project's format, checked row by row as the backtest CLI does) into
the stored history under AITRADER_HISTORY_DIR, merging with what is there. A bad file or name
prints one line on stderr and exits with code 2; nothing is stored then.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ValidationFailed
from trading.core.timeframes import SUPPORTED
from trading.services.candle_history import candle_history_import

USAGE_ERROR = 2


class Command(BaseCommand):
    """Thin CLI over `candle_history_import` (the service the Backtests page's uploads use)."""

    help = "Import a candle CSV into the stored history that `backtest --stored` reads."
    requires_system_checks: list[str] = []  # files only, no database

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, metavar="FILE.csv",
                            help="Candles: timestamp,open,high,low,close,volume.")
        parser.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
        parser.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
        parser.add_argument("--timeframe", required=True, choices=SUPPORTED)

    def handle(self, *args, **options) -> None:
        root = settings.AITRADER_HISTORY_DIR
        market = (options["exchange"], options["symbol"], options["timeframe"])
        try:
            outcome = candle_history_import(root=root, exchange=market[0], symbol=market[1],
                                            timeframe=market[2], path=options["file"])
        except ValidationFailed as exc:
            raise CommandError(exc.message, returncode=USAGE_ERROR) from None
        held = outcome.held
        self.stdout.write(f"Imported {outcome.candles} candles ({outcome.added} new) into "
                          f"{' '.join(market)}; the store now holds {held.count} of them "
                          f"over {held.months} month(s) under {root}")
