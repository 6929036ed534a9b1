#!/usr/bin/env python
"""Django's command-line utility for aitrader."""
import os
import sys

# Options only Django's command runner understands: with any of them, `backtest` goes through
# Django as every other command does.
DJANGO_OPTIONS = ("--settings", "--pythonpath", "--traceback", "--verbosity", "-v",
                  "--no-color", "--force-color", "--skip-checks")


def main() -> None:
    if sys.argv[1:2] == ["backtest"] and not any(
            arg.startswith(DJANGO_OPTIONS) for arg in sys.argv[2:]):
        # A backtest reads candle files and no database: it runs without starting Django,
        # which takes longer than the backtest itself (trading/core/backtest/cli.py).
        from trading.core.backtest.cli import main as backtest

        sys.exit(backtest(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitrader.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
