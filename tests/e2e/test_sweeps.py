"""A parameter sweep in a real browser: from the Backtests page to the sweep form, a small grid
with an out-of-sample share, live progress, then the results table and the heatmap."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_dashboard_flow import Tab, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DONE_TIMEOUT_MS = 60_000  # the first sweep of a server compiles the fill loop (numba)


def test_a_small_sweep_runs_from_the_page_and_shows_its_heatmap(app_server, browser,
                                                                 screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "sam@example.com", "Sam Sweeps")
    page.click("nav >> text=Backtests")
    page.click("#sweeps-link")
    expect(page.get_by_text("No sweeps yet")).to_be_visible()
    # Choosing a strategy reloads the form with that strategy's parameters (sweep.js).
    page.select_option("#sweep-strategy select[name=strategy]", "rsi_reversion")
    expect(page.locator("input[name=oversold__from]")).to_be_visible()
    page.select_option("#sweep-strategy select[name=strategy]", "sma_cross")
    form = page.locator("#sweep-form")
    expect(form.locator("input[name=fast__from]")).to_be_visible()
    form.locator("input[name=fast__from]").fill("4")
    form.locator("input[name=fast__to]").fill("10")
    form.locator("input[name=fast__step]").fill("3")
    form.locator("input[name=slow__from]").fill("20")
    form.locator("input[name=slow__to]").fill("40")
    form.locator("input[name=slow__step]").fill("10")
    form.locator("input[name=out_of_sample_pct]").fill("25")
    screenshot(page, "20-sweep-form")
    form.locator("button[type=submit]").click()
    expect(page.locator("h1 [data-field=status]")).to_have_text("Done", timeout=DONE_TIMEOUT_MS)
    expect(page.locator("#sweep-results tbody tr")).to_have_count(9)
    expect(page.locator("#best-out-of-sample")).to_contain_text("%")
    heatmap = page.locator("#sweep-heatmap table.heatmap")
    expect(heatmap.locator("tbody tr")).to_have_count(3)  # slow 20, 30, 40
    expect(heatmap.locator("td[class^=heat-]")).to_have_count(9)
    screenshot(page, "21-sweep-results")
    page.select_option("#sweep-heatmap select[name=part]", "out_of_sample")
    page.click("#sweep-heatmap button[type=submit]")
    expect(page.locator("#sweep-heatmap h2")).to_contain_text("Out-of-sample")
    page.locator("#sweep-results button", has_text="Backtest this").first.click()
    expect(page.locator("h1 [data-field=status]")).to_have_text("Done", timeout=DONE_TIMEOUT_MS)
    tab.assert_healthy()
