"""Browser tests: Playwright for Python driving Debian's chromium against a live daphne.

Every test here is marked `e2e` (automatically, below), so `make test` skips them and
`make test-e2e` / `.ci/run` run them. Chromium comes from apt (`apt-get install -y chromium`);
Playwright's own browser download is never used.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from tests.e2e.server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test under tests/e2e as e2e, whether or not it says so itself."""
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch) -> None:
    """Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses
    ORM calls from a thread with a running loop. The loop never touches the ORM here, so the
    tests may (only in this folder)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def app_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """daphne with the embedded scheduler and a moving market, serving the test database.

    One per test, stopped before the test's database flush: a scheduler still ticking
    deadlocks with the flush's TRUNCATE (PostgreSQL aborts one of them)."""
    with django_db_blocker.unblock():
        server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    """Debian's chromium, headless; fails with the fix when it is not installed."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("chromium is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        # ORM calls made while Playwright's loop runs use connections of their own context:
        # closed here, in that context, or PostgreSQL keeps their sessions past the tests.
        connections.close_all()
        browser.close()


@pytest.fixture
def screenshot():
    """screenshot(page, name): a full-page PNG under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
