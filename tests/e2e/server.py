"""The product as a browser sees it: daphne (HTTP + /ws/live) in a subprocess, with the
embedded scheduler ticking bots against a market that closes a candle every half second.

The server process is forked after the test database exists, so it serves that database; its
in-memory channel layer, market source and scheduler all live inside it, exactly like
`manage.py serve` in the embedded default.
"""
from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path

from daphne.testing import DaphneProcess
from django.conf import settings
from django.db import connections

from tests.trading.markets import START_MS, SteppingMarket
from trading.sampledata import generate

HOST = "127.0.0.1"
SECONDS_PER_CANDLE = 0.5
# Bots act on the newest closed candle only, as in production: they must tick several times per
# candle here, or a crossing on a candle they skip never trades and the browser waits in vain.
TICK_SECONDS = 0.1
HISTORY_CANDLES = 60
SAMPLE_CANDLES = 20_000  # ~2.7 hours of half-second candles: longer than any test run
# Mail the server sends (sign-up links) lands here, one file per message, for the tests to read.
MAIL_DIR = Path(__file__).resolve().parents[2] / "test-output" / "mail"


class WallClockMarket(SteppingMarket):
    """A stepping market whose cursor follows the wall clock: one closed candle every
    `seconds`. Bots see a market that moves while the browser watches."""

    def __init__(self, seconds: float = SECONDS_PER_CANDLE) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        super().__init__(generate("BTC/USDT", "1m", SAMPLE_CANDLES, 7, START_MS),
                         cursor=HISTORY_CANDLES)

    @property
    def cursor(self) -> int:
        elapsed = int((time.monotonic() - self.started) / self.seconds)
        return min(self._start + elapsed, len(self.candles) - 1)

    @cursor.setter
    def cursor(self, value: int) -> None:
        self._start = value


def _make_application():
    """The project's ASGI app behind Django's static handler (no collectstatic needed)."""
    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(get_default_application())


def _serve_setup(holder: dict) -> None:
    """Runs inside the server process before it serves: market, fast ticks, scheduler."""
    from aitrader.jobs import start_job_pool
    from trading.exchanges.factory import set_market_source
    from trading.marketdata import forget_local_memo
    from trading.scheduler import EmbeddedScheduler

    settings.AITRADER_ENGINE_TICK_SECONDS = TICK_SECONDS
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(MAIL_DIR)
    forget_local_memo()
    set_market_source("binance", WallClockMarket())
    holder["scheduler"] = EmbeddedScheduler(interval=TICK_SECONDS)
    holder["scheduler"].start()
    # Backtests, trainings and close-alls run on the job pool, as under `manage.py serve`.
    holder["jobs"] = start_job_pool(settings.AITRADER_JOB_WORKERS)


def _serve_teardown(holder: dict) -> None:
    from aitrader.jobs import stop_job_pool

    if "scheduler" in holder:
        holder["scheduler"].stop()
    if "jobs" in holder:
        stop_job_pool()


class LiveServer:
    """A daphne subprocess on a free port; `url` is its base URL."""

    def __init__(self) -> None:
        holder: dict = {}
        self.process = DaphneProcess(HOST, _make_application,
                                     setup=partial(_serve_setup, holder),
                                     teardown=partial(_serve_teardown, holder))

    def start(self, timeout: float = 20) -> LiveServer:
        connections.close_all()  # a forked child must not share the parent's DB connection
        shutil.rmtree(MAIL_DIR, ignore_errors=True)
        MAIL_DIR.mkdir(parents=True)
        self.process.start()
        if not self.process.ready.wait(timeout):
            error = "" if self.process.errors.empty() else self.process.errors.get()[1]
            self.stop()
            raise RuntimeError(f"the e2e server did not start:\n{error}")
        self.url = f"http://{HOST}:{self.process.port.value}"
        return self

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(10)
