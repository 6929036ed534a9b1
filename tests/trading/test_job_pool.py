"""The embedded job pool: background runs of Celery tasks with the task's own retries."""
from __future__ import annotations

import threading
import time
from contextlib import nullcontext

import pytest
from django.db import connections

from aitrader.celery import app
from aitrader.jobs import BackgroundTask, running_job_pool, start_job_pool, stop_job_pool
from tenants.models import Tenant
from tests.live import WAIT_SECONDS


class Flaky(Exception):
    """What the test tasks retry on."""


attempts: list[str] = []
gate = threading.Event()
started = threading.Event()


@app.task(base=BackgroundTask, name="tests.job_pool.record_thread", ignore_result=True)
def record_thread(label: str) -> None:
    started.set()
    gate.wait(WAIT_SECONDS)
    attempts.append(f"{label}@{threading.current_thread().name}")


@app.task(base=BackgroundTask, name="tests.job_pool.fails_until", ignore_result=True,
          autoretry_for=(Flaky,), max_retries=3, retry_backoff=False, default_retry_delay=0)
def fails_until(label: str, failures: int) -> None:
    attempts.append(label)
    if attempts.count(label) <= failures:
        raise Flaky(label)


@app.task(base=BackgroundTask, name="tests.job_pool.retries_later", ignore_result=True,
          bind=True, max_retries=1)
def retries_later(self, label: str, countdown: float) -> None:
    attempts.append(f"{label}:{self.request.retries}:{time.monotonic()}")
    if self.request.retries == 0:
        raise self.retry(countdown=countdown)


@app.task(base=BackgroundTask, name="tests.job_pool.count_tenants", ignore_result=True)
def count_tenants(seen: list) -> None:
    seen.append((Tenant.objects.count(), connections["default"]))


@pytest.fixture(autouse=True)
def _fresh():
    attempts.clear()
    started.clear()
    gate.set()
    yield
    gate.set()
    stop_job_pool(WAIT_SECONDS)


@pytest.fixture
def pool():
    started = start_job_pool(workers=2)
    yield started
    assert started.drain(WAIT_SECONDS)


def test_without_a_pool_a_task_runs_in_the_caller_as_eager_mode_does():
    record_thread.delay("inline")
    assert attempts == [f"inline@{threading.current_thread().name}"]


def test_with_a_pool_delay_returns_before_the_task_runs_on_a_worker_thread(pool):
    gate.clear()
    record_thread.delay("queued")
    assert attempts == [] and pool.unfinished == 1
    assert not pool.drain(0.05)  # held by the gate: drain reports that it timed out
    gate.set()
    assert pool.drain(WAIT_SECONDS)
    (entry,) = attempts
    assert entry.startswith("queued@aitrader-job")


@pytest.mark.parametrize("failures", [0, 2, 3, 10])
def test_it_retries_exactly_as_often_as_the_task_does_in_the_caller(pool, failures):
    fails_until.delay("pool", failures)
    assert pool.drain(WAIT_SECONDS)
    stop_job_pool(WAIT_SECONDS)
    with pytest.raises(Flaky) if failures > 3 else nullcontext():
        fails_until.delay("caller", failures)
    assert attempts.count("pool") == attempts.count("caller") == min(failures, 3) + 1


def test_a_retry_runs_after_its_countdown_with_the_next_retry_count(pool):
    retries_later.delay("later", 0.2)
    assert pool.drain(WAIT_SECONDS)
    (first, second) = [entry.split(":") for entry in attempts]
    assert (first[1], second[1]) == ("0", "1")
    assert float(second[2]) - float(first[2]) >= 0.2


def test_stopping_cuts_a_retry_countdown_short_and_drops_the_retry(pool, caplog):
    retries_later.delay("dropped", 3600)
    deadline = time.monotonic() + WAIT_SECONDS
    while not attempts and time.monotonic() < deadline:  # the first attempt runs at once
        time.sleep(0.01)
    assert stop_job_pool(WAIT_SECONDS)
    assert len(attempts) == 1 and "retry dropped" in caplog.text


def test_a_job_that_fails_for_good_is_logged_and_the_pool_goes_on(pool, caplog):
    fails_until.delay("doomed", 10)
    record_thread.delay("next")
    assert pool.drain(WAIT_SECONDS)
    assert attempts.count("doomed") == 4
    assert any(entry.startswith("next@aitrader-job") for entry in attempts)
    assert "background job tests.job_pool.fails_until" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_job_reads_the_database_and_closes_its_connection_at_the_end(pool):
    Tenant.objects.create(name="Pool", slug="pool")
    seen: list = []
    count_tenants.delay(seen)
    assert pool.drain(WAIT_SECONDS)
    ((count, job_connection),) = seen
    assert count == 1
    assert job_connection is not connections["default"]  # the worker thread's own
    assert job_connection.connection is None


def test_stopping_drops_queued_jobs_and_later_runs_happen_in_the_caller():
    pool = start_job_pool(workers=1)
    gate.clear()
    record_thread.delay("running")
    record_thread.delay("never")
    assert started.wait(WAIT_SECONDS)
    assert not stop_job_pool(timeout=0)  # "running" is held by the gate, "never" dropped
    gate.set()
    assert pool.drain(WAIT_SECONDS) and running_job_pool() is None
    assert [entry.split("@")[0] for entry in attempts] == ["running"]
    record_thread.delay("after")
    assert attempts[-1] == f"after@{threading.current_thread().name}"


def test_only_one_pool_runs_at_a_time(pool):
    with pytest.raises(RuntimeError):
        start_job_pool(workers=1)
