"""An order whose answer was lost (`unknown`) is always resolved: by the bot's next tick,
running or paused, also between candles and for close all's sell, or by reconciliation.
Through the real ccxt client against the Binance stand-in."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.base import owner_actor
from tests.trading.conftest import make_live_bot
from trading.engine import close_all, run_tick
from trading.exchanges.factory import live_exchange
from trading.models import Bot, Order
from trading.services import orders
from trading.services.bots import bot_close_all
from trading.services.reconciliation import reconcile_account

ORDER = "/api/v3/order"


@pytest.fixture
def live_bot(world, binance_live, market):
    return make_live_bot(world.tenant_a, preset="aggressive", breakers={"exchange_errors": 50})


def _tick(bot) -> None:
    run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def _lost_order(bot, market, fake) -> Order:
    """Tick until the bot places an order; the stand-in carries it out and drops the answer."""
    fake.lose_response_next(ORDER)  # the first request to the path is that order's POST
    for _ in range(300):
        market.step()
        _tick(bot)
        order = Order.objects.filter(bot=bot).first()
        if order is not None:
            assert order.status == Order.Status.UNKNOWN, order.status
            return order
    raise AssertionError("the bot never placed an order")


def _settled(order: Order) -> Order:
    order.refresh_from_db()
    assert order.status in (Order.Status.OPEN, Order.Status.CLOSED), order.status
    return order


def test_the_next_tick_resolves_it_without_waiting_for_a_candle(live_bot, market,
                                                                binance_live):
    order = _lost_order(live_bot, market, binance_live)
    _tick(live_bot)  # the same candle: nothing new to decide on
    assert _settled(order).filled > 0
    assert len(binance_live.orders_with_client_id(order.client_order_id)) == 1


def test_the_next_tick_of_a_paused_bot_resolves_it(live_bot, market, binance_live):
    order = _lost_order(live_bot, market, binance_live)
    Bot.objects.filter(pk=live_bot.pk).update(status=Bot.Status.PAUSED)
    _tick(live_bot)
    _settled(order)
    assert len(binance_live.orders_with_client_id(order.client_order_id)) == 1


def test_close_alls_lost_sell_is_resolved_by_the_next_tick(live_bot, market, binance_live):
    entry = _lost_order(live_bot, market, binance_live)
    _tick(live_bot)
    _settled(entry)
    binance_live.lose_response_next(ORDER)
    bot_close_all(tenant=live_bot.tenant, actor=owner_actor(live_bot.tenant), bot_id=live_bot.pk)
    close_all(tenant_id=live_bot.tenant_id, bot_id=live_bot.pk)  # the task it queues on commit
    sell = Order.objects.get(bot=live_bot, reason="close_all")
    assert sell.status == Order.Status.UNKNOWN
    _tick(live_bot)
    _settled(sell)
    assert len(binance_live.orders_with_client_id(sell.client_order_id)) == 1


def test_reconciliation_resolves_it(live_bot, market, binance_live):
    order = _lost_order(live_bot, market, binance_live)
    reconcile_account(tenant_id=live_bot.tenant_id, account_id=live_bot.account_id)
    _settled(order)


def test_reconciliation_expires_one_the_exchange_never_got_once_it_is_stale(
        live_bot, market, binance_live):
    binance_live.server_error_next(ORDER)  # refused before the stand-in kept anything
    order, _ = orders.order_intent_create(
        bot=live_bot, candle_ts=int(market.candles.timestamp[market.cursor - 1]),
        action="entry", side="buy", amount=Decimal("0.001"), expected_price=Decimal("50000"))
    sent = orders.order_submit(bot=live_bot, order=order, exchange=live_exchange(
        live_bot.account))
    assert sent.status == Order.Status.UNKNOWN
    reconcile_account(tenant_id=live_bot.tenant_id, account_id=live_bot.account_id)
    order.refresh_from_db()
    assert order.status == Order.Status.UNKNOWN  # within its bound: the next tick sends it
    # Two minutes later (its intent is dated back: the stand-in checks signed timestamps).
    Order.objects.filter(pk=order.pk).update(created_at=order.created_at - timedelta(minutes=2))
    reconcile_account(tenant_id=live_bot.tenant_id, account_id=live_bot.account_id)
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED
    assert binance_live.orders_with_client_id(order.client_order_id) == []
