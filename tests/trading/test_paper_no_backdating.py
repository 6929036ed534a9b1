"""The paper exchange never fills at a backdated price: an order fills only on candles after
the newest one closed when the paper exchange accepted it, however old its decision candle.

Driven through the paper exchange itself (the engine's own rule that stale intents expire
unsent is tested with the engine); the market moves on between decision and sending as it
does while workers are down.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.trading.conftest import make_paper_bot
from tests.trading.stops import SLIPPAGE, decimal
from trading.exchanges.base import OrderNotFound, OrderRequest
from trading.exchanges.factory import exchange_for
from trading.models import Order
from trading.services import orders

OUTAGE = 46  # candles


@pytest.fixture
def bot(world, market):
    return make_paper_bot(world.tenant_a, name="late")


def _exchange(bot, market):
    """The paper exchange as a tick builds it now: over the candles closed so far."""
    return exchange_for(bot.account, market.candles[:market.cursor])


def _intent(bot, market, *, action: str = "entry", side: str = "buy",
            stop_price: Decimal | None = None) -> Order:
    """An intent decided on the newest closed candle."""
    decided = int(market.candles.timestamp[market.cursor - 1])
    trigger = {"stop_price": stop_price} if stop_price is not None else {}
    order, _ = orders.order_intent_create(bot=bot, candle_ts=decided, action=action, side=side,
                                          amount=Decimal("0.01"), **trigger)
    return order


def _send(exchange, order: Order):
    """What order_submit does: mark the intent sent, then hand it to the exchange."""
    Order.objects.filter(pk=order.pk).update(sent_at=timezone.now())
    return exchange.create_order(OrderRequest(
        symbol=order.symbol, side=order.side, type=order.type, amount=order.amount,
        price=None, client_order_id=order.client_order_id))


def test_an_intent_sent_after_an_outage_fills_at_the_newest_price_not_its_decision_one(
        bot, market):
    order = _intent(bot, market)
    decided = list(market.candles.timestamp).index(order.candle_ts)
    market.step(OUTAGE)  # workers down: 46 candles close before the intent is sent
    sent_when = market.cursor - 1  # the newest closed candle at sending
    _send(_exchange(bot, market), order)
    market.step(2)

    fills = _exchange(bot, market).fetch_order_trades(order.symbol, _state(bot, market, order))

    assert fills, "the order fills once a candle closed after it was sent"
    first = fills[0]
    assert first.timestamp_ms == int(market.candles.timestamp[sent_when + 1])
    assert first.timestamp_ms != int(market.candles.timestamp[decided + 1])
    assert first.price == decimal(market.candles.open[sent_when + 1]) * (1 + SLIPPAGE)
    assert Order.objects.get(pk=order.pk).sent_candle_ts == int(
        market.candles.timestamp[sent_when])


def test_an_order_fills_on_nothing_before_it_reached_the_exchange(bot, market):
    order = _intent(bot, market)
    market.step(3)
    exchange = _exchange(bot, market)
    state = _send(exchange, order)
    assert (state.filled, state.status) == (0, "open")  # no candle closed since it was sent
    assert exchange.fetch_order_trades(order.symbol, state) == []


def test_a_send_that_never_reached_the_exchange_is_sent_again_not_filled_backdated(
        bot, market):
    # The intent was marked sent, then the worker died before the paper exchange saw it.
    order = _intent(bot, market)
    Order.objects.filter(pk=order.pk).update(sent_at=order.created_at)
    market.step(3)
    with pytest.raises(OrderNotFound):
        _exchange(bot, market).fetch_order(order.symbol, client_order_id=order.client_order_id)


def test_a_protective_exit_sent_late_fills_at_the_next_open_not_at_its_old_level(
        world, market):
    bot = make_paper_bot(world.tenant_a, name="late-stop")
    buy = _intent(bot, market)
    _send(_exchange(bot, market), buy)
    market.step()
    exchange = _exchange(bot, market)
    orders.order_sync(bot=bot, order=Order.objects.get(pk=buy.pk), exchange=exchange)
    # A stop touched on the newest candle, its sale sent only three candles later.
    level = decimal(market.candles.low[market.cursor - 1])
    stop = _intent(bot, market, action="stop_loss", side="sell", stop_price=level)
    market.step(3)
    sent_when = market.cursor - 1
    _send(_exchange(bot, market), stop)
    market.step()

    fills = _exchange(bot, market).fetch_order_trades(stop.symbol, _state(bot, market, stop))

    assert fills[0].timestamp_ms == int(market.candles.timestamp[sent_when + 1])
    assert fills[0].price == decimal(market.candles.open[sent_when + 1]) * (1 - SLIPPAGE)


def test_sending_again_never_moves_the_moment_an_order_was_accepted(bot, market):
    order = _intent(bot, market)
    _send(_exchange(bot, market), order)
    accepted = Order.objects.get(pk=order.pk).sent_candle_ts
    market.step(5)
    _send(_exchange(bot, market), order)  # a retried send of the same client order id
    assert Order.objects.get(pk=order.pk).sent_candle_ts == accepted
    first = _exchange(bot, market).fetch_order_trades(order.symbol, _state(bot, market, order))
    again = _exchange(bot, market).fetch_order_trades(order.symbol, _state(bot, market, order))
    assert first == again and first[0].trade_id == f"{order.client_order_id}-1"


def _state(bot, market, order: Order):
    return _exchange(bot, market).fetch_order(order.symbol,
                                              client_order_id=order.client_order_id)
