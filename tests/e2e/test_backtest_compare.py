"""Backtests a trader steers, in a real browser: two runs over a chosen date range from the
Backtests page, each report with its candles, trade marks and tables, then both runs ticked
in the runs list and compared side by side."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_dashboard_flow import Tab, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DONE_TIMEOUT_MS = 60_000  # the first backtest of a server compiles the fill loop (numba)


def run_backtest(page: Page, fast: str, slow: str) -> str:
    """Fill the form for the sample's BTC/USDT 1h over June-August 2024, run it, wait for its
    report; returns the run's number."""
    page.click("nav >> text=Backtests")
    form = page.locator("form[data-strategy-form]")
    form.locator("select[name=strategy]").select_option("sma_cross")
    form.locator("select[name=data]").select_option("sample")
    form.locator("input[name=start]").fill("2024-06-01")
    form.locator("input[name=end]").fill("2024-08-31")
    form.locator("input[name=param_fast]").fill(fast)
    form.locator("input[name=param_slow]").fill(slow)
    form.locator("button[type=submit]").click()
    expect(page.locator("h1 [data-field=status]")).to_have_text("Done", timeout=DONE_TIMEOUT_MS)
    expect(page.locator("#run-settings")).to_contain_text("2024-06-01")
    return page.locator("#backtest").get_attribute("data-run-id")


def test_two_runs_over_a_date_range_compared_side_by_side(app_server, browser, screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "cora@example.com", "Cora Quant")

    first = run_backtest(page, "8", "30")
    expect(page.locator("#candles-chart canvas").first).to_be_visible()
    expect(page.locator("#report-summary")).to_contain_text("Absolute drawdown")
    expect(page.locator("#report-daily tbody tr")).to_have_count(60)  # latest 60 of 92 days
    expect(page.locator("#report-monthly tbody tr")).to_have_count(3)  # June, July, August
    expect(page.locator("#report-pairs")).to_contain_text("BTC/USDT")
    screenshot(page, "30-backtest-report-range")
    second = run_backtest(page, "12", "48")

    page.click("nav >> text=Backtests")
    runs = page.locator("#runs-table")
    expect(runs.locator("tbody tr")).to_have_count(2)
    page.click("#runs-table th a[data-sort=return_pct]")  # highest return first
    expect(runs.locator("th[aria-sort=descending]")).to_contain_text("Return")
    runs.locator(f"input[name=run][value='{first}']").check()
    runs.locator(f"input[name=run][value='{second}']").check()
    page.click("#compare-button")

    table = page.locator("#compare-table")
    expect(table.locator("thead th[data-run]")).to_have_count(2)
    expect(table.locator(f"th[data-run='{first}']")).to_contain_text(f"#{first}")
    expect(table.locator(f"th[data-run='{second}']")).to_contain_text(f"#{second}")
    expect(table.locator("tr[data-row=parameters]")).to_contain_text("fast 8")
    expect(table.locator("tr[data-row=parameters]")).to_contain_text("fast 12")
    expect(table.locator("tr[data-row=range]")).to_contain_text("2024-06-01 00:00")
    expect(page.locator("#compare-chart canvas").first).to_be_visible()
    screenshot(page, "31-backtest-compare")

    # One run is not a comparison: back to the list, which says why.
    page.click("nav >> text=Backtests")
    page.locator(f"#runs-table input[name=run][value='{first}']").check()
    page.click("#compare-button")
    expect(page.locator(".messages")).to_contain_text("Pick 2 to 6 runs to compare")
    tab.assert_healthy()
