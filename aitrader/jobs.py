"""The embedded job pool: long Celery tasks run beside the web server, never inside a request.

In services mode Celery workers run every task. In the embedded default tasks run in-process
(`CELERY_TASK_ALWAYS_EAGER`), which on its own means inside the request that queued them: a
backtest, a training or a close-all would hold the POST and a server thread. Tasks declared
with `base=BackgroundTask` go to this pool instead while one runs (`manage.py serve` starts
it): a few worker threads that execute the task through Celery's own tracer
(`Signature.apply`). A retry the task asks for (`self.retry`, `autoretry_for`) runs as a
worker runs it: after its countdown, with the retry count it carries, so `max_retries`, the
backoff and the task's idempotency are the task's own and unchanged. (Plain eager mode
cannot do that: with `CELERY_TASK_EAGER_PROPAGATES` the first retry raises in the caller.)
Where no pool runs (management commands, the shell, most tests) the task runs in the caller
the same way.

Jobs live in memory: one queued when the server stops is not run by it. The rows they work
on say where they got to: `serve` queues unfinished backtests again at start, the beat sweep
fails a training whose run vanished, and a bot's ticks carry its requested close on.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from celery import Task
from celery.exceptions import Retry
from celery.utils import uuid
from django.db import close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

_pool_lock = threading.Lock()
_pool: JobPool | None = None
#: Waits `seconds` before a retry; False means "stop, do not retry".
Wait = Callable[[float], bool]


def run_with_retries(task: Task, args: tuple, kwargs: dict[str, Any], task_id: str,
                     wait: Wait) -> None:
    """Run `task` as a worker does: every retry it asks for runs after its countdown (or at
    its ETA) with the retry count it carries, until it returns or fails for good (raises)."""
    signature = task.signature(args, kwargs, task_id=task_id)
    while True:
        try:
            signature.apply(throw=True)
            return
        except Retry as retry:
            if retry.sig is None:
                raise
            if not wait(_seconds_until(retry.when)):
                logger.warning("background job %s[%s]: retry dropped, the pool stopped",
                               task.name, task_id)
                return
            signature = retry.sig


def _seconds_until(when: float | datetime | None) -> float:
    if isinstance(when, datetime):
        return max((when - timezone.now()).total_seconds(), 0.0)
    return max(float(when or 0), 0.0)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


class JobPool:
    """A fixed number of worker threads running Celery tasks with `Task.apply`; `drain` waits
    until every job submitted so far (and every job those submitted) has finished."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="aitrader-job")
        self._unfinished = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()

    def submit(self, task: Task, args: tuple, kwargs: dict[str, Any], task_id: str) -> None:
        """Queue one run of `task`; it starts as soon as a worker thread is free."""
        with self._changed:
            self._unfinished += 1
        try:
            future = self._executor.submit(self._run, task, args, kwargs, task_id)
        except RuntimeError:  # shut down meanwhile: nothing will run it
            self._finished()
            raise
        # A job cancelled by `shutdown` never reaches `_run`, which counts the others.
        future.add_done_callback(lambda done: done.cancelled() and self._finished())

    def _run(self, task: Task, args: tuple, kwargs: dict[str, Any], task_id: str) -> None:
        close_old_connections()
        try:
            run_with_retries(task, args, kwargs, task_id, wait=self._wait)
        except Exception:  # failed for good, past the task's own retries: log it, go on
            logger.exception("background job %s[%s] failed", task.name, task_id)
        finally:
            # This thread's connections: SQLite must not keep a writer open between jobs,
            # PostgreSQL must not keep an idle one per thread.
            connections.close_all()
            self._finished()

    def _wait(self, seconds: float) -> bool:
        """Sleep before a retry, cut short (returning False) when the pool stops."""
        return not self._stopping.wait(seconds)

    def _finished(self) -> None:
        with self._changed:
            self._unfinished -= 1
            self._changed.notify_all()

    @property
    def unfinished(self) -> int:
        """Jobs queued or running."""
        with self._changed:
            return self._unfinished

    def drain(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False if `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished == 0, timeout)

    def shutdown(self, timeout: float) -> bool:
        """Take no new jobs, drop the queued ones, wait up to `timeout` seconds for the
        running ones; returns whether they finished."""
        self._stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        return self.drain(timeout)


def start_job_pool(workers: int) -> JobPool:
    """Start the process's pool (one at a time): BackgroundTask runs go to it from now on."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            raise RuntimeError("the job pool is already running")
        _pool = JobPool(workers)
        return _pool


def stop_job_pool(timeout: float = 30.0) -> bool:
    """Stop the process's pool; later runs happen in the caller again. Returns whether the
    running jobs finished within `timeout` seconds."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    return True if pool is None else pool.shutdown(timeout)


def running_job_pool() -> JobPool | None:
    """The process's pool, or None when tasks run in the caller."""
    return _pool


class BackgroundTask(Task):
    """A long task (backtest, training, close-all): on the job pool in the embedded default,
    on a Celery worker in services mode, in the caller where neither runs."""

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        if not self.app.conf.task_always_eager:
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or uuid()
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        pool = running_job_pool()
        if pool is None:
            run_with_retries(self, args, kwargs, task_id, wait=_sleep)
        else:
            pool.submit(self, args, kwargs, task_id)
        return self.AsyncResult(task_id)
