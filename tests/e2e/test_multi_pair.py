"""A bot of two pairs in a real browser: made from the overview form, its page lists both
pairs and links the second pair's page (which points back), and the overview shows it as one
row summing both pairs while the live feed updates it."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_dashboard_flow import Tab, create_paper_bot, sign_up
from trading.models import Bot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_bot_trades_two_pairs_and_is_one_row_on_the_overview(app_server, browser,
                                                                 screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "pia@example.com", "Pia Pairs")
    create_paper_bot(page, "Majors", pairs="ETH/USDT")
    expect(page.locator(".page-head p.muted").first).to_contain_text("and 1 more pair")
    pairs = page.locator("#pairs tbody tr")
    expect(pairs).to_have_count(2)
    expect(pairs.nth(1)).to_contain_text("ETH/USDT")
    screenshot(page, "60-multi-pair-bot")

    # The second pair's page: its own chart and thoughts, its settings on the bot's page.
    pairs.nth(1).get_by_role("link", name="ETH/USDT").click()
    expect(page.locator("h1")).to_contain_text("Majors · ETH/USDT")
    expect(page.locator("#pair-of")).to_contain_text("Trades ETH/USDT for Majors")
    expect(page.locator("#edit-bot")).to_have_count(0)
    page.locator("#pair-of a").click()
    expect(page.locator("h1")).to_contain_text("Majors")

    # The overview: one row for both pairs, capital summed; the live feed keeps ticking it.
    page.click("nav >> text=Overview")
    lead = Bot.objects.get(name="Majors")
    pair = Bot.objects.get(lead=lead)
    row = page.locator(f"#bots-table tbody tr[data-bot-id='{lead.pk}']")
    expect(page.locator("#bots-table tbody tr")).to_have_count(1)
    expect(row).to_have_attribute("data-members", f"{lead.pk} {pair.pk}")
    expect(row).to_have_attribute("data-capital", re.compile(r"^2000(\.0+)?$"))
    expect(row.locator("[data-label=Market]")).to_contain_text("+1 pair")
    # Both pairs report their equity over /ws/live; the row keeps one figure per pair.
    expect(row).to_have_attribute("data-member-equity",
                                  re.compile(rf"^{lead.pk}:[\d.]+,{pair.pk}:[\d.]+$"))
    expect(row.locator("[data-field=position]")).to_have_text(
        re.compile(r"flat|[12] of 2 pairs open"))
