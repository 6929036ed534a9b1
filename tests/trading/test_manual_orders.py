"""Trading by hand: enter now, exit now (all or part), cancel a working order. The bot's next
tick carries the request out through its own order path (one intent per candle and action,
risk checks), audited and thought."""
from __future__ import annotations

from decimal import Decimal

import pytest

from aitrader.errors import Conflict, ValidationFailed
from tenants.models import AuditEvent
from tests.base import owner_actor
from tests.trading.conftest import make_paper_bot
from trading import selectors
from trading.engine import run_tick
from trading.models import Bot, ManualOrder, Order, Thought
from trading.services.bots import bot_pause
from trading.services.manual import manual_order_request


@pytest.fixture
def bot(world, market) -> Bot:
    bot = make_paper_bot(world.tenant_a, name="hand", preset="aggressive")
    run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)  # its first candle
    return Bot.objects.get(pk=bot.pk)


def ask(bot: Bot, action: str, **kwargs) -> ManualOrder:
    return manual_order_request(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk,
                                action=action, **kwargs)


def tick(bot: Bot) -> str:
    return run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).detail


def held(bot: Bot) -> Decimal:
    position = selectors.position_for_bot(bot=bot)
    return position.amount if position else Decimal(0)


def enter(bot: Bot, market) -> None:
    """A manual entry, filled: the paper exchange fills a market order on the next candle."""
    ask(bot, "enter")
    tick(bot)
    market.step()
    tick(bot)


def test_enter_now_buys_on_the_next_tick_with_the_bots_sizing(world, bot, market):
    request = ask(bot, "enter")
    assert "By hand: Entering long" in tick(bot)
    request.refresh_from_db()
    assert request.status == ManualOrder.Status.DONE and request.order.reason == "manual_entry"
    market.step()
    tick(bot)
    assert held(bot) > 0
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(action="bot.manual_enter")\
        .exists()
    assert Thought.objects.for_tenant(world.tenant_a).filter(
        bot=bot, summary__contains="asked to enter now").exists()


def test_exit_now_sells_the_share_asked_for(bot, market):
    enter(bot, market)
    before = held(bot)
    ask(bot, "exit", fraction="0.5")
    assert "selling 50% of the position" in tick(bot)
    market.step()
    tick(bot)
    assert Decimal(0) < held(bot) < before
    ask(bot, "exit")
    tick(bot)
    market.step()
    tick(bot)
    assert held(bot) == 0


def test_a_repeated_tick_places_the_request_once(bot):
    ask(bot, "enter")
    tick(bot)
    tick(bot)
    assert Order.objects.for_tenant(bot.tenant_id).filter(bot=bot,
                                                          reason="manual_entry").count() == 1


def test_an_entry_left_by_a_crashed_tick_is_followed_not_sent_again(bot, market):
    from trading.services import orders

    request = ask(bot, "enter")
    closed = market.candles[:market.cursor]
    candle_ts = int(closed.timestamp[-1])
    orders.order_intent_create(bot=bot, candle_ts=candle_ts, action="manual_entry",
                               side="buy", amount=Decimal("0.001"))  # intent, never sent
    request.refresh_from_db()
    tick(bot)
    entries = Order.objects.for_tenant(bot.tenant_id).filter(bot=bot, reason="manual_entry")
    assert entries.count() == 1


def test_the_risk_checks_refuse_an_entry_the_strategy_could_not_make(bot, market):
    enter(bot, market)  # the position has its one entry
    ask(bot, "enter")
    detail = tick(bot)
    assert "refused" in detail
    last = ManualOrder.objects.for_tenant(bot.tenant_id).filter(bot=bot).latest("created_at")
    assert last.status == ManualOrder.Status.REFUSED and last.note


def test_requests_are_refused_when_they_cannot_be_carried_out(bot):
    with pytest.raises(Conflict, match="holds nothing"):
        ask(bot, "exit")
    with pytest.raises(Conflict, match="no working order"):
        ask(bot, "cancel", order_id=999)
    with pytest.raises(ValidationFailed, match="share to sell"):
        ask(bot, "exit", fraction="1.5")
    ask(bot, "enter")
    with pytest.raises(Conflict, match="waiting for its next tick"):
        ask(bot, "enter")


def test_a_paused_bot_may_exit_but_not_enter(bot, market):
    enter(bot, market)
    bot_pause(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)
    with pytest.raises(Conflict, match="resume it to enter"):
        ask(bot, "enter")
    ask(bot, "exit")
    tick(bot)
    market.step()
    tick(bot)
    assert held(bot) == 0


def test_cancel_cancels_a_working_order(bot, market):
    from trading.exchanges.factory import exchange_for
    from trading.services import orders

    closed = market.candles[:market.cursor]
    order, _ = orders.order_intent_create(bot=bot, candle_ts=int(closed.timestamp[-1]),
                                          action="entry", side="buy", amount=Decimal("20"),
                                          price=Decimal("1"), order_type="limit")
    order = orders.order_submit(bot=bot, order=order, exchange=exchange_for(bot.account,
                                                                           closed))
    assert order.status == Order.Status.OPEN  # a buy far below the market rests
    ask(bot, "cancel", order_id=order.pk)
    assert "is canceled" in tick(bot)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
