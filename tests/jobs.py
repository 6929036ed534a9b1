"""Helpers for tests of the embedded job pool: a pool to run on, a way to keep a job queued,
and the live feed's events of one job."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from channels.testing import WebsocketCommunicator

from aitrader.celery import app
from aitrader.jobs import (
    BackgroundTask,
    JobPool,
    running_job_pool,
    start_job_pool,
    stop_job_pool,
)
from tests.live import WAIT_SECONDS

_release = threading.Event()
_holding = threading.Event()


@app.task(base=BackgroundTask, name="tests.jobs.hold_a_worker", ignore_result=True)
def hold_a_worker() -> None:
    _holding.set()
    _release.wait(WAIT_SECONDS)


@pytest.fixture
def job_pool() -> Iterator[JobPool]:
    """One worker thread, as `manage.py serve` starts them; every job has finished (and
    closed its connection) before the test's database is flushed."""
    pool = start_job_pool(workers=1)
    try:
        yield pool
    finally:
        _release.set()
        assert pool.drain(WAIT_SECONDS), "a background job did not finish"
        stop_job_pool(WAIT_SECONDS)


def drained() -> bool:
    """Whether every job queued so far has finished (waiting up to WAIT_SECONDS)."""
    return running_job_pool().drain(WAIT_SECONDS)


@contextmanager
def worker_busy() -> Iterator[None]:
    """Keep the pool's only worker busy inside the block, so the jobs queued there wait."""
    _release.clear()
    _holding.clear()
    hold_a_worker.delay()
    assert _holding.wait(WAIT_SECONDS)
    try:
        yield
    finally:
        _release.set()


async def _keep_loop_awake() -> None:
    # The pool's threads hand events to the in-memory channel layer with call_soon from
    # outside this loop, which does not wake it; the server's own timers do in `serve`.
    while True:
        await asyncio.sleep(0.05)


async def events_until(communicator: WebsocketCommunicator, event_type: str,
                       last: Callable[[dict], bool]) -> list[dict]:
    """The feed's `event_type` events up to and including the first that `last` accepts;
    fails past WAIT_SECONDS."""
    awake = asyncio.ensure_future(_keep_loop_awake())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    seen: list[dict] = []
    try:
        while True:
            left = deadline - loop.time()
            assert left > 0, f"no final {event_type!r} event; saw {seen}"
            event = await communicator.receive_json_from(timeout=left)
            if event.get("type") == event_type:
                seen.append(event)
                if last(event):
                    return seen
    finally:
        awake.cancel()
