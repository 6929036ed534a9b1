"""python manage.py run_engine: the scheduler and ticks in one process (what `make run` uses
in embedded mode; in services mode Celery worker + beat do the same)."""
import time

from django.core.management.base import BaseCommand

from trading.scheduler import EmbeddedScheduler


class Command(BaseCommand):
    help = "Run the trading engine: tick due bots until stopped (Ctrl+C)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=1.0,
                            help="Seconds between scheduler passes.")
        parser.add_argument("--seconds", type=float, default=None,
                            help="Stop after this many seconds (default: run until stopped).")

    def handle(self, *args, **options) -> None:
        scheduler = EmbeddedScheduler(interval=options["interval"])
        deadline = time.monotonic() + options["seconds"] if options["seconds"] else None
        self.stdout.write("Engine running; Ctrl+C stops it.")
        try:
            while deadline is None or time.monotonic() < deadline:
                ticks = scheduler.run_once()
                if options["verbosity"] > 1 and ticks:
                    self.stdout.write(f"{ticks} ticks")
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            pass
        self.stdout.write("Engine stopped.")
