"""Trading by hand from Telegram (/forceenter, /forceexit) and the live account's exchange
balances under /balance, through the real PTB client and the Bot API stand-in.

The commands queue the same `ManualOrder` the bot page and the API queue (one service, its
refusals passed on word for word); the percent has the manual exit's own bounds.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tenants.models import AuditEvent
from tests.base import owner_actor
from tests.notifications.conftest import CHATS, ask
from tests.trading.conftest import make_live_bot, make_paper_bot, market  # noqa: F401
from trading.engine import run_tick
from trading.models import Bot, ExchangeAccount, ManualOrder, Position
from trading.services.bots import bot_pause
from trading.services.reconciliation import reconcile_account

pytestmark = pytest.mark.django_db

CONTROLLERS = ["tina", "adam", "alice"]


@pytest.fixture
def bots(linked, market):  # noqa: F811
    """sma (ticked once, holding 0.01 BTC) and rsi (flat) in A, b-bot in B."""
    sma = make_paper_bot(linked.tenant_a, name="sma")
    make_paper_bot(linked.tenant_a, name="rsi")
    make_paper_bot(linked.tenant_b, name="b-bot")
    run_tick(tenant_id=sma.tenant_id, bot_id=sma.pk)  # its first candle
    Position.objects.create(tenant=linked.tenant_a, bot=sma, symbol="BTC/USDT",
                            amount=Decimal("0.01"), average_price=Decimal("30000"))
    return Bot.objects.get(pk=sma.pk)


def _requests(**filters):
    return ManualOrder.objects.filter(**filters)


# --- /forceenter ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONTROLLERS)
def test_forceenter_queues_an_entry_for_traders_and_above(bots, fake_telegram, name, linked):
    reply = ask(fake_telegram, CHATS[name], "/forceenter SMA")
    assert reply == "Asked sma to enter now: the next tick carries it out."
    request = _requests().get()
    assert (request.bot, request.action, request.fraction, request.status) == \
        (bots, ManualOrder.Action.ENTER, Decimal(1), ManualOrder.Status.PENDING)
    assert request.requested_by == linked.user(name).email
    event = AuditEvent.objects.get(action="bot.manual_enter")
    assert (event.actor_user, event.via, event.target) == (linked.user(name), "telegram", "sma")


def test_the_next_tick_carries_the_entry_out(bots, fake_telegram):
    Position.objects.filter(bot=bots).delete()  # flat, so the strategy's entry rule is free
    ask(fake_telegram, CHATS["tina"], "/forceenter sma")
    detail = run_tick(tenant_id=bots.tenant_id, bot_id=bots.pk).detail
    assert "By hand: Entering long" in detail
    request = _requests().get()
    assert request.status == ManualOrder.Status.DONE and request.order.reason == "manual_entry"


def test_forceenter_passes_the_services_refusals_on(bots, fake_telegram):
    bot_pause(tenant=bots.tenant, actor=owner_actor(bots.tenant), bot_id=bots.pk)
    assert ask(fake_telegram, CHATS["tina"], "/forceenter sma") == \
        "sma is paused: resume it to enter."
    ask(fake_telegram, CHATS["tina"], "/forceenter rsi")
    assert ask(fake_telegram, CHATS["tina"], "/forceenter rsi") == \
        "rsi has a manual order waiting for its next tick."
    assert _requests().count() == 1


def test_forceenter_without_a_name_asks_which_bot_and_takes_one_at_a_time(bots, fake_telegram):
    which = ask(fake_telegram, CHATS["tina"], "/forceenter")
    assert which.startswith("Which bot? /forceenter <name>.") and "rsi" in which
    assert "/forceenter all" not in which
    assert ask(fake_telegram, CHATS["tina"], "/forceenter all") == \
        "One bot at a time: /forceenter <bot>."
    assert not _requests().exists()


# --- /forceexit ----------------------------------------------------------------------------


def test_forceexit_with_a_percent_queues_that_share(bots, fake_telegram):
    reply = ask(fake_telegram, CHATS["tina"], "/forceexit sma 50")
    assert reply == "Asked sma to exit now (50 %): the next tick carries it out."
    request = _requests().get()
    assert (request.action, request.fraction) == (ManualOrder.Action.EXIT, Decimal("0.5"))
    assert AuditEvent.objects.get(action="bot.manual_exit").via == "telegram"


def test_forceexit_without_a_percent_sells_everything(bots, fake_telegram):
    assert ask(fake_telegram, CHATS["tina"], "/forceexit sma") == \
        "Asked sma to exit now: the next tick carries it out."
    assert _requests().get().fraction == Decimal(1)


def test_forceexit_accepts_a_percent_sign_and_the_bounds_themselves(bots, fake_telegram):
    ask(fake_telegram, CHATS["tina"], "/forceexit sma 1%")
    assert _requests().get().fraction == Decimal("0.01")
    _requests().update(status=ManualOrder.Status.DONE)
    ask(fake_telegram, CHATS["tina"], "/forceexit sma 100")
    assert _requests(status=ManualOrder.Status.PENDING).get().fraction == Decimal(1)


@pytest.mark.parametrize(("percent", "problem"), [
    ("0", "at least 1."), ("101", "at most 100."), ("x", "must be a number."),
    ("0.5", "at least 1."), ("12.345", "at most 2 decimal places."), ("nan", "a number."),
])
def test_a_bad_percent_gets_a_clear_reply_and_queues_nothing(bots, fake_telegram, percent,
                                                              problem):
    reply = ask(fake_telegram, CHATS["tina"], f"/forceexit sma {percent}")
    assert reply.startswith("The share to sell ") and problem in reply
    assert "Usage: /forceexit <bot> [percent], the percent from 1 to 100" in reply
    assert not _requests().exists()


def test_forceexit_of_a_flat_bot_is_refused_by_the_service(bots, fake_telegram):
    assert ask(fake_telegram, CHATS["tina"], "/forceexit rsi 50") == \
        "rsi holds nothing to exit."
    assert not _requests().exists()


# --- who may, and whose bots ---------------------------------------------------------------


def test_a_viewer_is_refused_and_nothing_is_queued(bots, fake_telegram):
    for text in ("/forceenter sma", "/forceexit sma", "/forceexit sma 50"):
        reply = ask(fake_telegram, CHATS["bob"], text)
        assert "Your role (viewer) can read but not control bots" in reply
    assert not _requests().exists()
    assert not AuditEvent.objects.filter(action__startswith="bot.manual").exists()


def test_another_tenants_bot_is_not_found(bots, fake_telegram):
    b_bot = Bot.objects.get(name="b-bot")
    for text in ("/forceenter b-bot", "/forceexit b-bot 50"):
        assert ask(fake_telegram, CHATS["tina"], text) == "No bot named 'b-bot'."
    assert ask(fake_telegram, CHATS["tina"], f"/forceenter {b_bot.pk}") == \
        f"No bot named '{b_bot.pk}'."
    assert not _requests().exists()


def test_its_owner_can_trade_it_by_hand(bots, fake_telegram):
    assert ask(fake_telegram, CHATS["charlie"], "/forceenter b-bot").startswith(
        "Asked b-bot to enter now")
    assert _requests().get().bot.name == "b-bot"


def test_help_lists_the_manual_commands(linked, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/help")
    assert "/forceenter <bot>" in reply and "/forceexit <bot> [percent]" in reply


# --- /balance with a live account -----------------------------------------------------------


@pytest.fixture
def live(linked, binance_live, market):  # noqa: F811
    """A live bot in A on an account holding BTC and USDT at the Binance stand-in."""
    bot = make_live_bot(linked.tenant_a)
    binance_live.set_balance("BTC", "0.12345678")
    binance_live.set_balance("USDT", "1234.5")
    binance_live.set_balance("ETH", "0")
    binance_live.balances["USDT"][1] = Decimal("265.5")  # locked in an open order
    return bot


def test_balance_lists_the_live_accounts_exchange_balances_after_a_reconciliation(
        live, fake_telegram):
    before = ask(fake_telegram, CHATS["bob"], "/balance")
    assert "live (live)" in before and "not read yet" in before

    reconcile_account(tenant_id=live.tenant_id, account_id=live.account_id)

    reply = ask(fake_telegram, CHATS["bob"], "/balance")
    as_of = ExchangeAccount.objects.get(pk=live.account_id).balances_at
    assert f"at binance, as of {as_of:%Y-%m-%d %H:%M} UTC" in reply
    assert "  BTC: 0.12345678" in reply
    assert "  USDT: 1,500.00, 265.50 in orders" in reply
    assert "ETH" not in reply
    assert "bot live: equity" in reply


def test_balance_never_shows_another_tenants_live_account(live, fake_telegram):
    reconcile_account(tenant_id=live.tenant_id, account_id=live.account_id)
    reply = ask(fake_telegram, CHATS["charlie"], "/balance")
    assert "0.12345678" not in reply and "1,500.00" not in reply
