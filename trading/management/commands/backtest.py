"""python manage.py backtest --strategy sma_cross --param fast=10 --param slow=20 \
    (--data PATH.csv | --stored EXCHANGE:SYMBOL:TIMEFRAME [--start DATE] [--end DATE]) \
    [--cash 10000] [--fee 0.002] [--slippage 0] [--stake 1] [--preset NAME] [--json]

`--stored` reads the stored history (AITRADER_HISTORY_DIR, filled by download_ohlcv and
import_candles), only the months between --start (included) and --end (excluded).

Bad input (a broken CSV, an empty stored range, an unknown strategy, a bad parameter) prints
one line on stderr and exits with code 2.
"""
from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from aitrader.errors import ValidationFailed
from trading.core.backtest import BacktestConfig, run_backtest
from trading.core.backtest.text import render_text
from trading.core.candles import CandleFileError, Candles, load_csv, parse_timestamp
from trading.core.history import history_read
from trading.core.strategies.presets import PRESETS

USAGE_ERROR = 2
# Runs at least this long (in candles) draw a progress bar (text output only).
PROGRESS_FROM_CANDLES = 100_000


class ProgressBar:
    """A one-line bar redrawn in place on a command's stderr (a Django OutputWrapper)."""

    def __init__(self, stream: OutputWrapper, width: int = 30) -> None:
        self.stream, self.width = stream, width

    def __call__(self, percent: float) -> None:
        filled = int(self.width * percent / 100)
        bar = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:5.1f} %"
        self.stream.write(bar, ending="\n" if percent >= 100 else "")
        self.stream.flush()


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`["fast=10", "slow=20"]` as a dict; the strategy coerces and checks the values."""
    params = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise CommandError(f"--param {pair!r} must look like name=value.",
                               returncode=USAGE_ERROR)
        params[name.strip()] = value.strip()
    return params


class Command(BaseCommand):
    """The backtest CLI: parse flags, run the backtest service, print the report."""

    help = "Backtest a strategy over a candle CSV and print its report (a table or --json)."
    # The backtest reads a file and touches neither the database nor other services.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        """The issue-4 flags."""
        parser.add_argument("--strategy", required=True, help="Strategy key, e.g. sma_cross.")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="A strategy parameter; repeat for each.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", metavar="PATH.csv",
                            help="Candles: timestamp,open,high,low,close,volume.")
        source.add_argument("--stored", metavar="EXCHANGE:SYMBOL:TIMEFRAME",
                            help="Stored history, e.g. binance:BTC/USDT:1m.")
        parser.add_argument("--start", default=None, metavar="DATE",
                            help="With --stored: first candle (ISO date/time UTC, epoch ms).")
        parser.add_argument("--end", default=None, metavar="DATE",
                            help="With --stored: stop before this moment.")
        parser.add_argument("--cash", type=float, default=10_000.0, help="Starting cash.")
        parser.add_argument("--fee", type=float, default=0.001,
                            help="Fee rate per fill (0.001 = 0.1 %%).")
        parser.add_argument("--slippage", type=float, default=0.0,
                            help="Slippage per fill as a fraction (0.0005 = 0.05 %%).")
        parser.add_argument("--stake", type=float, default=None,
                            help="Fraction of equity per position (default: preset, else 1).")
        parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                            help="Risk preset: stop loss, take profit, drawdown pause...")
        parser.add_argument("--no-lookahead-check", action="store_true",
                            help="Skip re-running the strategy on truncated data.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Validate, load the file, run, print; bad input becomes exit code 2."""
        config = BacktestConfig(
            strategy=options["strategy"], params=parse_params(options["param"]),
            preset=options["preset"], cash=options["cash"], fee=options["fee"],
            slippage=options["slippage"], stake=options["stake"],
            lookahead_check=not options["no_lookahead_check"])
        try:
            config.resolve()  # refuse bad params before spending time on the file
            candles = self._candles(options)
            progress = self._progress(len(candles), options["json"])
            report = run_backtest(candles, config, progress=progress)
        except CandleFileError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        except ValidationFailed as exc:
            raise CommandError(exc.message, returncode=USAGE_ERROR) from None
        if options["json"]:
            self.stdout.write(json.dumps(report, allow_nan=False))
        else:
            self.stdout.write(render_text(report), ending="")

    def _candles(self, options: dict[str, Any]) -> Candles:
        """The candles the flags name: a CSV file, or a range of the stored history."""
        if options["data"] is not None:
            if options["start"] or options["end"]:
                raise CommandError("--start and --end need --stored.", returncode=USAGE_ERROR)
            return load_csv(options["data"])
        exchange, symbol, timeframe = _market(options["stored"])
        return history_read(settings.AITRADER_HISTORY_DIR, exchange, symbol, timeframe,
                            _moment(options["start"], "--start"), _moment(options["end"], "--end"))

    def _progress(self, candle_count: int, as_json: bool) -> ProgressBar | None:
        if as_json or candle_count < PROGRESS_FROM_CANDLES:
            return None
        return ProgressBar(self.stderr)


def _market(raw: str) -> tuple[str, str, str]:
    """`binance:BTC/USDT:1m` as its three parts (the store checks each)."""
    parts = raw.split(":")
    if len(parts) != 3 or not all(parts):
        raise CommandError(f"--stored {raw!r} must read EXCHANGE:SYMBOL:TIMEFRAME, e.g. "
                           f"binance:BTC/USDT:1m.", returncode=USAGE_ERROR)
    return parts[0], parts[1], parts[2]


def _moment(raw: str | None, flag: str) -> int | None:
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise CommandError(f"{flag} {raw!r} is neither an ISO date/time nor epoch ms.",
                           returncode=USAGE_ERROR) from None
