"""`manage.py backtest`: see trading/core/backtest/cli.py, which holds the flags and the run.

manage.py runs that module directly, without starting Django; this command is the same
backtest for `call_command` and `manage.py help`, reading the history directory from the
settings.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trading.core.backtest import cli


class Command(BaseCommand):
    """The backtest CLI as a management command: the same flags, run and errors."""

    help = cli.HELP
    # The backtest reads a file and touches neither the database nor other services.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        """The flags of trading.core.backtest.cli."""
        cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the backtest; bad input becomes exit code 2."""
        try:
            cli.run(options, settings.AITRADER_HISTORY_DIR, _Stream(self.stdout),
                    _Stream(self.stderr))
        except cli.UsageError as exc:
            raise CommandError(str(exc), returncode=cli.USAGE_ERROR) from None


class _Stream:
    """A command's OutputWrapper as a plain text stream: writes go out as given (the wrapper
    would end each one with a newline, which breaks the progress bar redrawn in place)."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")

    def flush(self) -> None:
        self.wrapper.flush()
