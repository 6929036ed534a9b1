"""The embedded scheduler: ticks due bots inside the server process (no Celery needed)."""
from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

from trading.engine import run_due_ticks

logger = logging.getLogger(__name__)


class EmbeddedScheduler(threading.Thread):
    """Every `interval` seconds, tick the bots that are due; stops when `stop()` is called."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(name="aitrader-scheduler", daemon=True)
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.run_once()
            self._stopped.wait(self.interval)

    def run_once(self) -> int:
        """One pass over due bots; returns how many ticks ran."""
        close_old_connections()
        try:
            return len(run_due_ticks())
        except Exception:  # keep scheduling: one bad pass must not stop every bot
            logger.exception("scheduler pass failed")
            return 0
        finally:
            close_old_connections()

    def stop(self) -> None:
        self._stopped.set()
