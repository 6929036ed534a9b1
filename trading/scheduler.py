"""The embedded scheduler: Celery beat's work inside the server process (no Celery needed).

Bots are ticked every `interval` seconds; every other entry of the beat schedule in
aitrader/celery.py (Telegram check-ins, ML retraining, ...) runs here at its own interval,
so the embedded default and services mode share one schedule.
"""
from __future__ import annotations

import logging
import threading
import time

from celery.utils.imports import symbol_by_name
from django.db import close_old_connections, connection

from trading.engine import run_due_ticks

logger = logging.getLogger(__name__)
# The beat entry the tick loop replaces (it runs every `interval` here instead).
TICK_ENTRY = "schedule-due-bots"


def beat_jobs() -> list[tuple[str, str, float]]:
    """(name, task path, seconds) of the beat entries other than the tick scheduler."""
    # The project's Celery app (aitrader/__init__ makes it the current one at start-up).
    from celery import current_app

    return [(name, entry["task"], float(entry["schedule"]))
            for name, entry in current_app.conf.beat_schedule.items() if name != TICK_ENTRY]


def _drop_stale_connections() -> None:
    """Like a request boundary: a long-lived thread must not keep a broken connection, but a
    connection inside a transaction (a caller's, or a test's) is never closed."""
    if not connection.in_atomic_block:
        close_old_connections()


class EmbeddedScheduler(threading.Thread):
    """Ticks due bots every `interval` seconds and runs the beat jobs when they are due."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(name="aitrader-scheduler", daemon=True)
        self.interval = interval
        self._stopped = threading.Event()
        self._next_run = {name: 0.0 for name, _task, _every in beat_jobs()}

    def run(self) -> None:
        while not self._stopped.is_set():
            self.run_once()
            self._stopped.wait(self.interval)

    def run_once(self) -> int:
        """One pass: due bots, then due beat jobs; returns how many ticks ran."""
        _drop_stale_connections()
        try:
            ticks = self._guarded("bot ticks", lambda: len(run_due_ticks())) or 0
            self._run_due_jobs()
            return ticks
        finally:
            _drop_stale_connections()

    def _run_due_jobs(self) -> None:
        now = time.monotonic()
        for name, task, every in beat_jobs():
            if now >= self._next_run.get(name, 0.0):
                self._next_run[name] = now + every
                self._guarded(name, symbol_by_name(task))

    @staticmethod
    def _guarded(name: str, job):
        try:
            return job()
        except Exception:  # keep scheduling: one failing job must not stop the others
            logger.exception("embedded scheduler: %s failed", name)
            return None

    def stop(self) -> None:
        self._stopped.set()
