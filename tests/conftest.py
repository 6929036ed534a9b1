"""Fixtures shared by the whole suite."""
from __future__ import annotations

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from tests.base import World, build_world, client_past_second_factor

# Local stand-ins of the outside world, available to every test.
pytest_plugins = ["tests.fakes.binance", "tests.fakes.stripe", "tests.fakes.webhook"]


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and shared market data must not leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _history_stores(settings, tmp_path):
    """Stored candle history (shared and per tenant) in the test's own directory, never the
    project's var/: a backtest's default data set depends on what is stored."""
    settings.AITRADER_HISTORY_DIR = str(tmp_path / "history")
    settings.AITRADER_TENANT_HISTORY_DIR = str(tmp_path / "tenant-history")


@pytest.fixture
def frozen_clock():
    """Time stands still, so no rate-limit window can end halfway through a test."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        yield clock


@pytest.fixture
def world(db) -> World:
    """alice (owner of A), bob (viewer of A), charlie (owner of B), read/control keys."""
    return build_world()


@pytest.fixture
def admin_client(admin_user):
    """pytest-django's admin browser, past the second factor that admin asks of staff."""
    return client_past_second_factor(admin_user)
