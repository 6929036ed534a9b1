"""A market's history downloaded from the Backtests page, in a real browser: an admin asks
for ETH/USDT 4-hour candles, follows the job's status page to its end (the Binance stand-in
serves the candles to the server's public client), and the backtest form then offers the
downloaded data set (a 4h timeframe the sample does not have)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.test_dashboard_flow import Tab, sign_up
from trading.exchanges.live_clients import reset_live_connections, set_live_connection
from trading.sampledata import generate

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
CANDLES = 300
DONE_TIMEOUT_MS = 30_000


@pytest.fixture
def exchange_stand_in(fake_binance) -> Iterator:
    """The server's public clients talk to the stand-in: set before the server forks (list
    this fixture before app_server), so the server process inherits it."""
    fake_binance.set_klines("ETH/USDT", "4h", generate("ETH/USDT", "4h", CANDLES, seed=6,
                                                       start_ms=JAN_1).to_rows())
    set_live_connection("binance", urls_api=fake_binance.url, timeout_ms=2000,
                        ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})
    yield fake_binance
    reset_live_connections()


def test_an_admin_downloads_a_market_and_backtests_on_it(exchange_stand_in, app_server,
                                                         browser, screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "dora@example.com", "Dora Data")  # the owner: above admin

    page.click("nav >> text=Backtests")
    backtest_timeframes = page.locator("form[data-strategy-form] select[name=timeframe] option")
    expect(backtest_timeframes.filter(has_text="4h")).to_have_count(0)
    form = page.locator("#history-download")
    form.locator("select[name=exchange]").select_option("binance")
    form.locator("input[name=symbol]").fill("ETH/USDT")
    form.locator("select[name=timeframe]").select_option("4h")
    form.locator("input[name=since]").fill("2024-01-01")
    form.locator("button[type=submit]").click()

    status = page.locator("#history-download-status")
    expect(status).to_have_attribute("data-status", "done", timeout=DONE_TIMEOUT_MS)
    expect(page.locator("section.card")).to_contain_text(
        f"Downloaded {CANDLES} candles ({CANDLES} new)")
    screenshot(page, "40-history-download-done")
    page.click("text=Run a backtest on it")

    expect(page.locator("#history-download")).to_be_visible()
    expect(backtest_timeframes.filter(has_text="4h")).to_have_count(1)
    backtest = page.locator("form[data-strategy-form]")
    backtest.locator("select[name=symbol]").select_option("ETH/USDT")
    backtest.locator("select[name=timeframe]").select_option("4h")
    expect(page.locator("#stored-history")).to_contain_text("ETH/USDT · 4h")
    expect(page.locator("#stored-history")).to_contain_text(str(CANDLES))
    tab.assert_healthy()
