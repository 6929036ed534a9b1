"""A bot through its life in a real browser: edit it, enter and exit by hand, duplicate it,
archive the copy; every risky control asks in the page's own dialog (a cancelled question
changes nothing), and the overview's figures stay inside their cards."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.dialogs import answer_confirmation, click_to_confirm
from tests.e2e.test_dashboard_flow import Tab, create_paper_bot, sign_up
from trading.models import Bot, ManualOrder

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TICK_TIMEOUT_MS = 60_000  # a manual order is carried out by the bot's next tick


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["x"] >= outer["x"] - 0.5
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5)


def _wait_answered(page, bot: Bot, *, requests: int) -> None:
    """Until a tick has answered `requests` manual orders of `bot` (bounded, not timed)."""
    for _ in range(TICK_TIMEOUT_MS // 250):
        answered = ManualOrder.objects.filter(bot=bot).exclude(
            status=ManualOrder.Status.PENDING).count()
        if answered >= requests:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{requests} manual orders not answered by a tick")


def test_a_bot_is_edited_traded_by_hand_duplicated_and_archived(app_server, browser,
                                                                 screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "lena@example.com", "Lena Lifecycle")
    create_paper_bot(page, "Original")
    bot = Bot.objects.get(name="Original")

    # A cancelled pause changes nothing; the status stays as it was.
    click_to_confirm(page, "[data-control=pause] button")
    answer_confirmation(page, accept=False, says="keeps its position")
    expect(page.locator("h1 [data-field=status]")).to_have_text("Running")

    # Edit: a new name and preset, saved and shown.
    page.locator("#edit-bot summary").click()
    edit = page.locator("#edit-bot form")
    edit.locator("input[name=name]").fill("Renamed")
    edit.locator("select[name=preset]").select_option("conservative")
    edit.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text("Renamed")
    expect(page.locator(".page-head p.muted").first).to_contain_text("conservative preset")

    # Enter by hand, then exit by hand: each asks first and is carried out by a tick.
    # The bot's own signals keep trading meanwhile (its thoughts scroll by twice a second),
    # so the request itself says when a tick has answered it: done, or refused with why.
    click_to_confirm(page, page.locator("#trade-by-hand button", has_text="Enter now"))
    answer_confirmation(page, says="Enter now with Renamed")
    expect(page.locator(".messages")).to_contain_text("Asked Renamed to enter now")
    _wait_answered(page, bot, requests=1)
    click_to_confirm(page, page.locator("#trade-by-hand button", has_text="Exit now"))
    answer_confirmation(page, says="Exit now with Renamed")
    # (or, when its own exit signal came first, the page says there is nothing to sell)
    expect(page.locator(".messages")).to_contain_text(
        re.compile("Asked Renamed to exit now|Renamed holds nothing to exit"))
    _wait_answered(page, bot, requests=ManualOrder.objects.filter(bot=bot).count())
    screenshot(page, "30-bot-traded-by-hand")

    # Duplicate: a paused copy opens; archive it and it leaves the overview.
    page.get_by_role("button", name="Duplicate").click()
    expect(page.locator("h1")).to_contain_text("Renamed copy")
    click_to_confirm(page, page.get_by_role("button", name="Archive"))
    answer_confirmation(page, says="Archive Renamed copy?")
    expect(page.locator(".messages")).to_contain_text("Renamed copy is archived")
    page.click("nav >> text=Overview")
    rows = page.locator("#bots-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Renamed")

    # The headline figures stay inside their cards.
    for card in page.locator(".card.stat").all():
        assert _inside(card.locator(".value").bounding_box(), card.bounding_box())
    tab.assert_healthy()
