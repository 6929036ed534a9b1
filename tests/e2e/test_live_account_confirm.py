"""A bot on a live exchange account, created or resumed in a real browser: the page asks in
its own dialog first (never the browser's native one). Cancelling leaves everything as it
was; confirming creates (or resumes) the bot, which then trades through the live client.
The live exchange is the Binance stand-in (the server process inherits the connection) and
the server's feed is its own moving market, not a replay, so the bot is allowed."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.base import PASSWORD, owner_actor
from tests.e2e.dialogs import answer_confirmation, scripts_ready
from tests.e2e.test_dashboard_flow import Tab
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.models import Bot
from trading.services.accounts import exchange_account_create
from trading.services.credentials import exchange_credentials_save

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ASKS = "Start a live bot? It trades real money"


@pytest.fixture
def live_account(binance_live, world):
    """Tenant A's live binance account holding the stand-in's key (verified there); made
    before the server forks, which inherits the stand-in connection (list it first)."""
    actor = owner_actor(world.tenant_a)
    account = exchange_account_create(tenant=world.tenant_a, actor=actor, label="Real money",
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=world.tenant_a, actor=actor, account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    return account


def sign_in(tab: Tab, email: str) -> None:
    page = tab.page
    page.goto("/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator("#new-bot")).to_be_visible()
    scripts_ready(page)


def fill_live_bot(tab: Tab, account_id: int, name: str) -> None:
    form = tab.page.locator("#new-bot form")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=account]").select_option(str(account_id))
    form.locator("select[name=strategy]").select_option("sma_cross")
    form.locator("input[name=param_fast]").fill("3")
    form.locator("input[name=param_slow]").fill("8")
    form.locator("button[type=submit]").click()


def test_a_live_bot_is_created_only_once_the_page_asked(live_account, app_server, browser,
                                                        world):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_in(tab, world.alice.email)
    overview = page.url

    fill_live_bot(tab, live_account.pk, "Real one")
    answer_confirmation(page, accept=False, says=ASKS)
    expect(page.locator("#new-bot form input[name=name]")).to_have_value("Real one")
    assert page.url == overview
    assert not Bot.objects.for_tenant(world.tenant_a).exists()

    page.locator("#new-bot form button[type=submit]").click()
    answer_confirmation(page, says=ASKS)
    expect(page.locator("h1")).to_contain_text("Real one")
    bots = Bot.objects.for_tenant(world.tenant_a)
    assert [(bot.name, bot.account_id) for bot in bots] == [("Real one", live_account.pk)]
    tab.assert_healthy()  # no native dialog, no script error


def test_resuming_a_live_bot_asks_first(live_account, app_server, browser, world):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_in(tab, world.alice.email)
    fill_live_bot(tab, live_account.pk, "Real two")
    answer_confirmation(page, says=ASKS)
    status = page.locator("h1 [data-field=status]")
    expect(status).to_have_text("Running")
    scripts_ready(page)
    page.locator("form[data-control=pause] button").click()
    with page.expect_navigation(wait_until="load"):  # the pause's answer, a fresh page
        answer_confirmation(page, says="Pause Real two?")
    expect(status).to_have_text("Paused")

    page.locator("form[data-control=resume] button").click()
    answer_confirmation(page, accept=False, says="Resume Real two?")
    expect(status).to_have_text("Paused")
    assert Bot.objects.for_tenant(world.tenant_a).get().status == Bot.Status.PAUSED

    page.locator("form[data-control=resume] button").click()
    answer_confirmation(page, says="Resume Real two?")
    expect(status).to_have_text("Running")
    tab.assert_healthy()
