"""Two server processes against one Redis spend the same rate-limit budgets."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager

import pytest
import redis
from django.conf import settings

from tests.base import database_url
from tests.security.conftest import REDIS_URL, free_port

pytestmark = [pytest.mark.django_db(transaction=True),  # the servers must see the rows
              pytest.mark.services]  # a real Redis: run by .ci/run and with REDIS_URL set


def _clear_counters() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter("aitrader:*rl:*"):
        client.delete(key)


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read()}")
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)  # noqa: S310 (loopback)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


@contextmanager
def server(env: dict[str, str]):
    """One `manage.py runserver` process (daphne) on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def two_servers(world, tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aitrader.settings.test",
           "DATABASE_URL": database_url(), "REDIS_URL": REDIS_URL,
           "AITRADER_VAR_DIR": str(tmp_path), "AITRADER_EMBEDDED_SCHEDULER": "false",
           # The same peppers, or the servers could not recognise the test's keys.
           "AITRADER_API_KEY_PEPPERS": ",".join(settings.AITRADER_API_KEY_PEPPERS),
           "AITRADER_RATE_LIMIT_EXPORTS_PER_HOUR": "3",
           "AITRADER_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE": "1000"}
    _clear_counters()
    with ExitStack() as stack:
        yield [stack.enter_context(server(env)) for _ in range(2)]
    _clear_counters()


def test_two_processes_share_one_budget(world, two_servers):
    first, second = two_servers
    path = "/api/v1/export/trades.csv"
    # The hourly export budget, so no window can end during the test: 3 per key in all.
    codes = [_get(f"{server_url}{path}", world.control_key_a)
             for server_url in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]
    assert _get(f"{first}{path}", world.control_key_b) == 200, "another key's own budget"
