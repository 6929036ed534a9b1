"""python manage.py backtest --strategy sma_cross --param fast=10 --param slow=20 \
    (--data PATH.csv | --stored EXCHANGE:SYMBOL:TIMEFRAME [--start DATE] [--end DATE]) \
    [--cash 10000] [--fee 0.002] [--slippage 0] [--stake 1] [--preset NAME] [--json]

`--stored` reads the stored history (AITRADER_HISTORY_DIR, filled by download_ohlcv and
import_candles), only the months between --start (included) and --end (excluded).

Bad input (a broken CSV, an empty stored range, an unknown strategy, a bad parameter) prints
one line on stderr and exits with code 2.

A backtest reads files and touches no database, so `manage.py backtest` runs this module
without starting Django (`main`), which would cost more than the backtest itself; the
management command of the same name (`call_command`, `manage.py help`) shares the flags and
`run`.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.runner import run_backtest
from trading.core.backtest.text import render_text
from trading.core.candles import CandleFileError, Candles, load_csv, parse_timestamp
from trading.core.errors import ValidationFailed
from trading.core.history import history_read
from trading.core.paths import history_dir
from trading.core.strategies.presets import PRESETS

USAGE_ERROR = 2
# Runs at least this long (in candles) draw a progress bar (text output only).
PROGRESS_FROM_CANDLES = 100_000
HELP = "Backtest a strategy over a candle CSV and print its report (a table or --json)."


class UsageError(Exception):
    """Bad input: one line for the user, exit code 2."""


class ProgressBar:
    """A one-line bar redrawn in place on a text stream."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width

    def __call__(self, percent: float) -> None:
        filled = int(self.width * percent / 100)
        ending = "\n" if percent >= 100 else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:5.1f} %"
                          f"{ending}")
        self.stream.flush()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The backtest flags, on this module's parser and on the management command's."""
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


def run(options: Mapping[str, Any], history_root: str | Path, stdout: TextIO,
        stderr: TextIO) -> None:
    """Validate the parsed flags, load the candles, run, print the report on `stdout`.

    Raises UsageError for bad input; a long text run draws its progress on `stderr`.
    """
    config = BacktestConfig(
        strategy=options["strategy"], params=parse_params(options["param"]),
        preset=options["preset"], cash=options["cash"], fee=options["fee"],
        slippage=options["slippage"], stake=options["stake"],
        lookahead_check=not options["no_lookahead_check"])
    try:
        config.resolve()  # refuse bad params before spending time on the file
        candles = _candles(options, history_root)
        progress = None if options["json"] or len(candles) < PROGRESS_FROM_CANDLES \
            else ProgressBar(stderr)
        report = run_backtest(candles, config, progress=progress)
    except CandleFileError as exc:
        raise UsageError(str(exc)) from None
    except ValidationFailed as exc:
        raise UsageError(exc.message) from None
    # orjson: the whole report, trades and all, ten times faster than json. The report holds
    # no NaN or infinity (metrics that have no value are None).
    stdout.write(orjson.dumps(report).decode() + "\n" if options["json"] else render_text(report))


def main(argv: Sequence[str], *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr,
         environ: Mapping[str, str] = os.environ) -> int:
    """The command line: parse `argv` (the words after `backtest`), run, return the exit
    code. Bad flags print argparse's usage and exit 2; bad input one line, code 2."""
    parser = argparse.ArgumentParser(prog="manage.py backtest", description=HELP)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        run(options, history_dir(environ), stdout, stderr)
    except UsageError as exc:
        stderr.write(f"Error: {exc}\n")
        return USAGE_ERROR
    return 0


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """`["fast=10", "slow=20"]` as a dict; the strategy coerces and checks the values."""
    params = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise UsageError(f"--param {pair!r} must look like name=value.")
        params[name.strip()] = value.strip()
    return params


def _candles(options: Mapping[str, Any], history_root: str | Path) -> Candles:
    """The candles the flags name: a CSV file, or a range of the stored history."""
    if options["data"] is not None:
        if options["start"] or options["end"]:
            raise UsageError("--start and --end need --stored.")
        return load_csv(options["data"])
    exchange, symbol, timeframe = _market(options["stored"])
    return history_read(history_root, exchange, symbol, timeframe,
                        _moment(options["start"], "--start"), _moment(options["end"], "--end"))


def _market(raw: str) -> tuple[str, str, str]:
    """`binance:BTC/USDT:1m` as its three parts (the store checks each)."""
    parts = raw.split(":")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"--stored {raw!r} must read EXCHANGE:SYMBOL:TIMEFRAME, e.g. "
                         f"binance:BTC/USDT:1m.")
    return parts[0], parts[1], parts[2]


def _moment(raw: str | None, flag: str) -> int | None:
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise UsageError(f"{flag} {raw!r} is neither an ISO date/time nor epoch ms.") from None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
