"""A customer's first session, in a real browser against a live server.

Sign up, create a paper bot, watch it trade live (WebSocket updates without a reload), pause
it, export the trades as CSV, create an API key and call the API with it; a second tenant in
another browser context sees none of it. Screenshots of the main pages land in
test-output/screenshots/.
"""
from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tenants.models import Tenant
from tenants.plans import Plan
from tests.e2e.dialogs import answer_confirmation, click_to_confirm
from tests.e2e.server import MAIL_DIR
from trading.models import Bot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-ocean-4921-kettle"
LIVE_TIMEOUT_MS = 60_000  # a fill needs a moving-average cross: usually seconds, rarely more


class Tab:
    """A page of one browser context that collects what would mean a broken page: uncaught
    script errors and anything the CSP refused."""

    def __init__(self, browser, base_url: str) -> None:
        self.context = browser.new_context(base_url=base_url, viewport={"width": 1280,
                                                                        "height": 900})
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", self._console)
        # The browser's own dialogs must never appear: confirmations are in the page.
        self.page.on("dialog", self._native_dialog)

    def _native_dialog(self, dialog) -> None:
        self.problems.append(f"native dialog: {dialog.message}")
        dialog.dismiss()  # a listener takes over Playwright's own dismissal: answer it

    def _console(self, message) -> None:
        if message.type == "error" and "Refused to" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def assert_healthy(self) -> None:
        assert not self.problems, self.problems


def emailed_link(address: str, pattern: str) -> str:
    """The newest link matching `pattern` in the mail the server sent to `address`."""
    for path in sorted(MAIL_DIR.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        text = path.read_text()
        match = re.search(pattern, text)
        if f"To: {address}" in text and match:
            return match.group(0)
    raise AssertionError(f"no e-mail to {address} with a link like {pattern}")


def sign_up(tab: Tab, email: str, workspace: str) -> None:
    """Both steps, as a customer does them: the form, then the password at the e-mailed link."""
    page = tab.page
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=full_name]", workspace.split()[0])
    page.fill("input[name=workspace_name]", workspace)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    page.goto(emailed_link(email, r"http://\S+/accounts/signup/confirm/\S+/"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text(workspace)


def create_paper_bot(page: Page, name: str, *, pairs: str = "") -> None:
    form = page.locator("#new-bot form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=pairs]").fill(pairs)
    expect(form.locator("select[name=account]")).to_have_value("new-paper")
    form.locator("select[name=preset]").select_option("aggressive")
    # The parameter inputs are built by strategy-form.js from the strategy's schema.
    form.locator("select[name=strategy]").select_option("sma_cross")
    form.locator("input[name=param_fast]").fill("3")
    form.locator("input[name=param_slow]").fill("8")
    form.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text(name)


def test_a_customer_signs_up_trades_on_paper_and_uses_the_api(app_server, browser,
                                                               screenshot, tmp_path):
    alice = Tab(browser, app_server.url)
    page = alice.page

    # Sign up: an empty workspace says what to do first.
    sign_up(alice, "alice@example.com", "Alice Capital")
    expect(page.get_by_text("No bots yet — create a paper bot to start")).to_be_visible()
    screenshot(page, "01-overview-empty")

    # Create a paper bot from the overview form; it opens on its own page.
    create_paper_bot(page, "Trend follower")
    bot = Bot.objects.get(name="Trend follower")
    assert bot.parameters == {"fast": 3, "slow": 8} and bot.account.mode == "paper"

    # Watch it trade on the overview: the live feed updates the page without a reload.
    page.click("nav >> text=Overview")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    row = page.locator(f"tr[data-bot-id='{bot.pk}']")
    expect(page.locator("#activity-feed li").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#activity-feed li", has_text="Filled")).not_to_have_count(
        0, timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("[data-field=trades]")).not_to_have_text("0", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    with page.expect_request(lambda request: "/api/v1/equity/portfolio/" in request.url,
                             timeout=LIVE_TIMEOUT_MS):
        pass  # the equity chart re-reads as equity events arrive
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "02-overview-live")

    # Meanwhile a second tenant, in its own browser context, sees none of it.
    charlie = Tab(browser, app_server.url)
    sign_up(charlie, "charlie@example.com", "Charlie Funds")
    expect(charlie.page.locator("[data-live-status]")).to_have_text("Live")
    newest = page.locator("#activity-feed li").first
    expect(newest).not_to_have_attribute("data-seq", newest.get_attribute("data-seq"),
                                         timeout=LIVE_TIMEOUT_MS)  # A's feed still moves
    expect(charlie.page.locator("#activity-feed li")).to_have_count(0)
    expect(charlie.page.get_by_text("Trend follower")).to_have_count(0)
    assert charlie.page.goto(f"/bots/{bot.pk}/").status == 404
    charlie_bots = charlie.page.request.get("/api/v1/bots/").json()
    assert charlie_bots["count"] == 0
    assert charlie.page.request.get("/api/v1/trades/").json()["count"] == 0

    # The bot page: candles with trade marks, live thoughts; pause asks first, then pauses.
    page.click(f"tr[data-bot-id='{bot.pk}'] a")
    expect(page.locator("#candles-chart canvas").first).to_be_visible()
    expect(page.locator("#thoughts li").first).to_be_visible()
    expect(page.locator("#trades-table tbody tr").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    screenshot(page, "03-bot-detail")
    click_to_confirm(page, "[data-control=pause] button")
    answer_confirmation(page, says="keeps its position")
    expect(page.locator("h1 [data-field=status]")).to_have_text("Paused")
    expect(page.locator("[data-control=resume]")).to_be_visible()
    bot.refresh_from_db()
    assert bot.status == Bot.Status.PAUSED

    # Export: the free plan explains itself; on Pro (staff change the plan) it downloads.
    page.click("nav >> text=Overview")
    expect(page.get_by_text("Exports come with the Pro plan.")).to_be_visible()
    Tenant.objects.filter(slug=bot.tenant.slug).update(plan=Plan.PRO)
    page.reload()
    with page.expect_download() as download_info:
        page.click("[data-export]")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert rows and all((row["bot"], row["symbol"]) == ("Trend follower", "BTC/USDT")
                        for row in rows)

    # An API key, shown once, works from a program; another tenant's data stays out of reach.
    page.click("nav >> text=Settings")
    page.fill("#api-key-form input[name=name]", "my script")
    page.check("#api-key-form input[value=export]")
    page.click("#api-key-form button[type=submit]")
    key = page.locator("#new-api-key").inner_text().strip()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    screenshot(page, "04-settings-new-key")
    api = httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {key}"})
    bots = api.get("/api/v1/bots/")
    assert bots.status_code == 200
    assert [b["name"] for b in bots.json()["results"]] == ["Trend follower"]
    assert bots.json()["results"][0]["status"] == "paused"
    export = api.get("/api/v1/export/trades.csv")
    assert export.status_code == 200
    assert {row["id"] for row in rows} <= {row["id"] for row in csv.DictReader(
        io.StringIO(export.text))}
    page.reload()
    expect(page.get_by_text(key)).to_have_count(0)  # shown once only

    charlie.page.goto("/")
    assert charlie.page.request.get("/api/v1/trades/").json()["count"] == 0
    expect(charlie.page.locator("#activity-feed li")).to_have_count(0)
    screenshot(charlie.page, "05-second-tenant-overview")
    alice.assert_healthy()
    charlie.assert_healthy()


def test_a_backtest_runs_from_the_form_and_shows_its_report(app_server, browser, screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "bella@example.com", "Bella Research")
    page.click("nav >> text=Backtests")
    expect(page.get_by_text("No backtests yet")).to_be_visible()
    page.select_option("select[name=strategy]", "sma_cross")
    page.fill("input[name=param_fast]", "12")
    page.fill("input[name=param_slow]", "30")
    page.select_option("select[name=preset]", "balanced")
    screenshot(page, "06-backtest-form")
    page.click("text=Run backtest")
    expect(page.locator("h1 [data-field=status]")).to_have_text("Done", timeout=60_000)
    expect(page.locator("#equity-chart canvas").first).to_be_visible()
    expect(page.locator("#metrics-table")).to_contain_text("Profit factor")
    expect(page.locator("#report-trades tbody tr").first).to_be_visible()
    screenshot(page, "07-backtest-report")
    page.click("nav >> text=Backtests")
    expect(page.locator("table a", has_text="#")).to_have_count(1)
    tab.assert_healthy()


def test_the_pages_fit_a_phone(app_server, browser, screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_up(tab, "dora@example.com", "Dora Mobile")
    create_paper_bot(page, "Pocket bot")
    page.click("nav >> text=Overview")
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the overview scrolls sideways on a phone ({width}px)"
    screenshot(page, "08-overview-phone")
    tab.assert_healthy()


def test_the_live_feed_reconnects_and_rereads_through_rest(app_server, browser):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "erin@example.com", "Erin Desk")
    create_paper_bot(page, "Steady bot")
    page.click("nav >> text=Overview")
    status = page.locator("[data-live-status]")
    expect(status).to_have_text("Live")
    expect(page.locator("#activity-feed li").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    # Drop the socket as a flaky network would: the page reconnects by itself and re-reads
    # its state through REST (events missed while away are not trusted to the feed alone).
    with page.expect_request(lambda request: "/api/v1/positions/" in request.url,
                             timeout=LIVE_TIMEOUT_MS):
        page.evaluate("Aitrader.liveFeed.socket.close()")
    expect(status).to_have_text("Live")
    newest = page.locator("#activity-feed li").first
    expect(newest).not_to_have_attribute("data-seq", newest.get_attribute("data-seq"),
                                         timeout=LIVE_TIMEOUT_MS)  # events flow again
    tab.assert_healthy()
