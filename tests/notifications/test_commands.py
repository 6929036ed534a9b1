"""Every command with each role, through the real PTB client and the Bot API stand-in.

Reads work for every linked member; control needs trader or above *at the time of the
command*, goes through the trading services and leaves their audit rows (via telegram).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications.models import TelegramLink
from tenants.models import AuditEvent, Membership, Role
from tests.notifications.conftest import CHATS, ask, send
from tests.trading.conftest import make_paper_bot
from trading.models import Bot, EquitySnapshot, Position, Trade

pytestmark = pytest.mark.django_db

ROLES = {"bob": Role.VIEWER, "tina": Role.TRADER, "adam": Role.ADMIN, "alice": Role.OWNER}
CONTROLLERS = ["tina", "adam", "alice"]


@pytest.fixture
def bots(cast):
    """Two paper bots in A (one with an open position and trades), one in B."""
    sma = make_paper_bot(cast.tenant_a, name="sma")
    make_paper_bot(cast.tenant_a, name="rsi")
    make_paper_bot(cast.tenant_b, name="b-bot")
    Position.objects.create(tenant=cast.tenant_a, bot=sma, symbol="BTC/USDT",
                            amount=Decimal("0.01"), average_price=Decimal("30000"))
    EquitySnapshot.objects.create(tenant=cast.tenant_a, bot=sma, candle_ts=1,
                                  equity=Decimal("1010"), cash=Decimal("700"),
                                  position_value=Decimal("310"))
    now = timezone.now()
    for i in range(7):
        Trade.objects.create(tenant=cast.tenant_a, bot=sma, symbol="BTC/USDT",
                             amount=Decimal("0.01"), entry_price=Decimal("30000"),
                             exit_price=Decimal("30100"), status=Trade.Status.CLOSED,
                             entry_time=now - timedelta(minutes=10 * (i + 1)), exit_time=now,
                             pnl=Decimal("1.00"), exit_reason="take_profit")
    return sma


def _bot(name: str) -> Bot:
    return Bot.objects.get(name=name)


# --- reads: every role ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ROLES))
def test_status_shows_bots_positions_and_todays_pnl_for_every_role(linked, bots, fake_telegram,
                                                                   name):
    reply = ask(fake_telegram, CHATS[name], "/status")
    assert "Status · Tenant A" in reply and "2 bots: 2 running" in reply
    assert "sma · BTC/USDT · running" in reply and "position 0.01 @ 30000" in reply
    assert "open +10.00 USDT" in reply  # 310 marked - 0.01 * 30000
    assert "today +7.00 USDT realized" in reply
    assert "b-bot" not in reply  # tenant B's bot never shows in A's chat


@pytest.mark.parametrize("name", list(ROLES))
def test_balance_shows_paper_balances_for_every_role(linked, bots, fake_telegram, name):
    reply = ask(fake_telegram, CHATS[name], "/balance")
    assert "paper-sma (paper)" in reply and "USDT: 10000 free" in reply
    assert "bot sma: equity 1,010.00 USDT" in reply


@pytest.mark.parametrize("name", list(ROLES))
def test_trades_lists_the_last_n_for_every_role(linked, bots, fake_telegram, name):
    assert ask(fake_telegram, CHATS[name], "/trades").startswith("Last 5 trades")
    reply = ask(fake_telegram, CHATS[name], "/trades 2")
    assert reply.startswith("Last 2 trades") and reply.count("sma BTC/USDT") == 2
    assert "+1.00 USDT (take_profit)" in reply


@pytest.mark.parametrize("text", ["/trades 0", "/trades 21", "/trades lots"])
def test_trades_refuses_a_bad_count_with_usage(linked, bots, fake_telegram, text):
    assert ask(fake_telegram, CHATS["bob"], text).startswith("Usage: /trades [n]")


@pytest.mark.parametrize("name", list(ROLES))
def test_help_lists_the_commands_for_every_role(linked, fake_telegram, name):
    reply = ask(fake_telegram, CHATS[name], "/help")
    for command in ("/status", "/balance", "/trades", "/pause", "/resume", "/closeall",
                    "/checkins"):
        assert command in reply


def test_status_without_bots_says_so(linked, fake_telegram):
    assert "No bots yet." in ask(fake_telegram, CHATS["alice"], "/status")


def test_an_unknown_command_points_to_help(linked, fake_telegram):
    assert "Send /help" in ask(fake_telegram, CHATS["bob"], "/frobnicate")


# --- control: trader and above, checked at the time of the command -------------------------


@pytest.mark.parametrize("name", CONTROLLERS)
def test_pause_and_resume_work_for_traders_and_above(linked, bots, fake_telegram, name):
    assert ask(fake_telegram, CHATS[name], "/pause sma") == "sma: paused."
    assert _bot("sma").status == Bot.Status.PAUSED
    assert ask(fake_telegram, CHATS[name], "/resume SMA") == "sma: resumed."
    assert _bot("sma").status == Bot.Status.RUNNING
    user = linked.user(name)
    for action in ("bot.pause", "bot.resume"):
        event = AuditEvent.objects.get(tenant=linked.tenant_a, action=action)
        assert (event.actor_user, event.via, event.target) == (user, "telegram", "sma")


def test_a_viewer_cannot_pause_resume_or_close(linked, bots, fake_telegram):
    for text in ("/pause sma", "/resume sma", "/closeall sma"):
        reply = ask(fake_telegram, CHATS["bob"], text)
        assert "Your role (viewer) can read but not control bots" in reply
    assert _bot("sma").status == Bot.Status.RUNNING
    assert not AuditEvent.objects.filter(action__startswith="bot.", via="telegram").exists()


def test_a_demoted_member_loses_control_at_once(linked, bots, fake_telegram):
    assert ask(fake_telegram, CHATS["tina"], "/pause sma") == "sma: paused."
    Membership.objects.filter(user=linked.tina).update(role=Role.VIEWER)
    assert "Your role (viewer)" in ask(fake_telegram, CHATS["tina"], "/resume sma")
    assert _bot("sma").status == Bot.Status.PAUSED
    assert "Status" in ask(fake_telegram, CHATS["tina"], "/status")  # reading still works


def test_a_promoted_viewer_gains_control(linked, bots, fake_telegram):
    Membership.objects.filter(user=linked.world.bob).update(role=Role.TRADER)
    assert ask(fake_telegram, CHATS["bob"], "/pause sma") == "sma: paused."


def test_a_removed_member_is_treated_as_an_unknown_chat(linked, bots, fake_telegram):
    Membership.objects.filter(user=linked.tina).delete()
    assert "not linked" in ask(fake_telegram, CHATS["tina"], "/pause sma")
    assert _bot("sma").status == Bot.Status.RUNNING


def test_pause_without_a_name_asks_which_bot(linked, bots, fake_telegram):
    reply = ask(fake_telegram, CHATS["tina"], "/pause")
    assert reply.startswith("Which bot?") and "rsi" in reply and "sma" in reply


def test_pause_all_pauses_every_bot_of_the_tenant_only(linked, bots, fake_telegram):
    reply = ask(fake_telegram, CHATS["tina"], "/pause all")
    assert reply == "rsi: paused.\nsma: paused."
    assert _bot("b-bot").status == Bot.Status.RUNNING


def test_another_tenants_bot_is_not_found(linked, bots, fake_telegram):
    reply = ask(fake_telegram, CHATS["tina"], "/pause b-bot")
    assert reply == "No bot named 'b-bot'."
    b_bot = _bot("b-bot")
    assert ask(fake_telegram, CHATS["tina"], f"/pause {b_bot.pk}") == \
        f"No bot named '{b_bot.pk}'."
    assert _bot("b-bot").status == Bot.Status.RUNNING


def _confirm_button(fake, chat_id: int) -> str:
    markup = fake.sent_messages(chat_id)[-1]["reply_markup"]
    return markup["inline_keyboard"][0][0]["callback_data"]


@pytest.mark.parametrize("name", CONTROLLERS)
def test_closeall_asks_for_confirmation_then_closes(linked, bots, fake_telegram, name):
    chat = CHATS[name]
    question = ask(fake_telegram, chat, "/closeall sma")
    assert question.startswith("Close all for bot sma?")
    assert _bot("sma").status == Bot.Status.RUNNING  # nothing happens before the button
    send(fake_telegram, fake_telegram.callback(chat, _confirm_button(fake_telegram, chat)))
    assert fake_telegram.calls("answerCallbackQuery")
    edited = fake_telegram.calls("editMessageText")[-1].params
    assert edited["chat_id"] == chat and edited["text"].startswith("Closing all for sma")
    assert _bot("sma").status == Bot.Status.PAUSED
    event = AuditEvent.objects.get(action="bot.close_all")
    assert (event.actor_user, event.via) == (linked.user(name), "telegram")


def test_closeall_cancel_changes_nothing(linked, bots, fake_telegram):
    ask(fake_telegram, CHATS["tina"], "/closeall sma")
    send(fake_telegram, fake_telegram.callback(CHATS["tina"], "cx"))
    assert fake_telegram.calls("editMessageText")[-1].params["text"].startswith("Cancelled")
    assert _bot("sma").status == Bot.Status.RUNNING


def test_closeall_confirmation_rechecks_the_role(linked, bots, fake_telegram):
    ask(fake_telegram, CHATS["tina"], "/closeall sma")
    data = _confirm_button(fake_telegram, CHATS["tina"])
    Membership.objects.filter(user=linked.tina).update(role=Role.VIEWER)
    send(fake_telegram, fake_telegram.callback(CHATS["tina"], data))
    assert "Your role (viewer)" in fake_telegram.calls("editMessageText")[-1].params["text"]
    assert _bot("sma").status == Bot.Status.RUNNING


def test_closeall_confirmation_expires(linked, bots, fake_telegram):
    import time_machine

    ask(fake_telegram, CHATS["tina"], "/closeall sma")
    data = _confirm_button(fake_telegram, CHATS["tina"])
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        send(fake_telegram, fake_telegram.callback(CHATS["tina"], data))
    assert "expired" in fake_telegram.calls("editMessageText")[-1].params["text"]
    assert _bot("sma").status == Bot.Status.RUNNING


def test_a_forged_button_for_another_tenants_bot_finds_nothing(linked, bots, fake_telegram):
    import time

    b_bot = _bot("b-bot")
    send(fake_telegram, fake_telegram.callback(CHATS["tina"],
                                               f"ca:{b_bot.pk}:{int(time.time())}"))
    assert fake_telegram.calls("editMessageText")[-1].params["text"] == "No such bot."
    assert _bot("b-bot").status == Bot.Status.RUNNING


def test_in_a_group_only_the_linking_account_controls(linked, bots, fake_telegram):
    from notifications import services

    code = services.link_code_issue(tenant=linked.tenant_a,
                                    actor=services.Actor.system(linked.tenant_a),
                                    user=linked.tina)[1]
    ask(fake_telegram, -500, f"/start {code}", user_id=CHATS["tina"], chat_type="group")
    stranger = ask(fake_telegram, -500, "/pause sma", user_id=999, chat_type="group")
    assert "Only the Telegram account that linked this chat" in stranger
    assert "Status" in ask(fake_telegram, -500, "/status", user_id=999, chat_type="group")
    assert ask(fake_telegram, -500, "/pause sma", user_id=CHATS["tina"],
               chat_type="group") == "sma: paused."


def test_commands_for_another_bot_in_a_group_are_ignored(linked, bots, fake_telegram):
    send(fake_telegram, fake_telegram.command(CHATS["tina"], "/pause@some_other_bot sma"))
    assert fake_telegram.texts(CHATS["tina"]) == []
    assert _bot("sma").status == Bot.Status.RUNNING


# --- /checkins ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ROLES))
def test_checkins_on_off_and_interval_for_every_role(linked, fake_telegram, name):
    chat = CHATS[name]
    assert ask(fake_telegram, chat, "/checkins").startswith("Check-ins are on, every 30")
    assert ask(fake_telegram, chat, "/checkins off").startswith("Check-ins are off")
    assert not TelegramLink.objects.get(chat_id=chat, active=True).checkins_enabled
    assert ask(fake_telegram, chat, "/checkins 15") == "Check-ins are on, every 15 minutes."
    link = TelegramLink.objects.get(chat_id=chat, active=True)
    assert link.checkins_enabled and link.checkin_interval_minutes == 15
    assert AuditEvent.objects.filter(action="telegram.checkins", via="telegram",
                                     actor_user=linked.user(name)).count() == 2


@pytest.mark.parametrize("text", ["/checkins 2", "/checkins 5000", "/checkins sometimes"])
def test_checkins_refuses_bad_input_with_a_clear_message(linked, fake_telegram, text):
    reply = ask(fake_telegram, CHATS["bob"], text)
    assert reply.startswith(("Choose between 5 and 1440", "Usage: /checkins"))


# --- unknown chats -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["/status", "/balance", "/trades", "/pause sma", "/resume sma",
                                  "/closeall sma", "/checkins off", "/help", "/start"])
def test_an_unknown_chat_gets_a_polite_refusal_only(cast, bots, fake_telegram, text):
    reply = ask(fake_telegram, 424242, text)
    assert reply.startswith("Hello! This chat is not linked")
    assert "sma" not in reply and "Tenant" not in reply
    assert fake_telegram.sent_messages(424242)[-1].get("reply_markup") is None
    assert _bot("sma").status == Bot.Status.RUNNING


def test_an_unknown_chat_pressing_a_button_changes_nothing(cast, bots, fake_telegram):
    import time

    send(fake_telegram, fake_telegram.callback(424242, f"ca:{bots.pk}:{int(time.time())}"))
    assert "not linked" in fake_telegram.calls("editMessageText")[-1].params["text"]
    assert _bot("sma").status == Bot.Status.RUNNING


def test_plain_text_in_a_private_unknown_chat_gets_the_refusal(cast, fake_telegram):
    send(fake_telegram, fake_telegram.text_message(424242, "hi there"))
    assert fake_telegram.last_text(424242).startswith("Hello! This chat is not linked")


def test_plain_text_in_an_unknown_group_is_ignored(cast, fake_telegram):
    send(fake_telegram, fake_telegram.text_message(-4242, "hi all", user_id=5,
                                                   chat_type="group"))
    assert fake_telegram.texts(-4242) == []


@pytest.mark.parametrize("name", list(ROLES))
def test_daily_weekly_monthly_sum_closed_trades_for_every_role(linked, bots, fake_telegram,
                                                                name):
    daily = ask(fake_telegram, CHATS[name], "/daily 2")
    assert daily.startswith("Daily profit") and "(7 trades, 7 won)" in daily
    assert daily.count("\n") == 3 and "Total: +7.00" in daily
    assert ask(fake_telegram, CHATS[name], "/weekly").startswith("Weekly profit")
    assert ask(fake_telegram, CHATS[name], "/monthly 1").count("\n") == 2


@pytest.mark.parametrize("text", ["/daily 0", "/daily 91", "/weekly 53", "/monthly x"])
def test_period_commands_refuse_counts_outside_the_shared_bounds(linked, bots, fake_telegram,
                                                                 text):
    assert ask(fake_telegram, CHATS["bob"], text).startswith("Usage: /")
