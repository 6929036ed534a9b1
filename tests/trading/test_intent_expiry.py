"""Stale order intents expire: an intent not sent within its bound (one candle by default,
AITRADER_ORDER_INTENT_TTL_CANDLES) is canceled with a Thought, never sent late."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import time_machine
from django.utils import timezone

from trading.engine import run_tick
from trading.models import Fill, Order, Thought
from trading.services import orders


def _newest_closed(market) -> int:
    return int(market.candles.timestamp[market.cursor - 1])


def _crashed_intent(bot, market) -> Order:
    """The intent a tick committed on the newest closed candle before its worker died."""
    order, _ = orders.order_intent_create(bot=bot, candle_ts=_newest_closed(market),
                                          action="entry", side="buy", amount=Decimal("0.01"),
                                          expected_price=Decimal("50000"))
    return order


def _tick(bot, market, candles: int = 1) -> None:
    for _ in range(candles):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def test_an_intent_left_by_a_crash_expires_after_a_candle_and_is_never_sent(paper_bot, market):
    _tick(paper_bot, market)
    intent = _crashed_intent(paper_bot, market)
    market.step(46)  # the workers were down for 46 candles
    run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk)
    intent.refresh_from_db()
    assert intent.status == Order.Status.EXPIRED and intent.sent_at is None
    assert not Fill.objects.filter(order=intent).exists()
    thought = Thought.objects.get(bot=paper_bot, kind=Thought.Kind.ORDER)
    assert "expired" in thought.summary and "never sent late" in thought.summary
    assert intent.client_order_id in thought.summary
    _tick(paper_bot, market, 5)
    intent.refresh_from_db()
    assert intent.status == Order.Status.EXPIRED and not Fill.objects.filter(order=intent)


def test_an_intent_within_its_candle_is_sent_by_the_restarted_tick(paper_bot, market):
    _tick(paper_bot, market)
    intent = _crashed_intent(paper_bot, market)
    run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk)  # same candle, no new close
    intent.refresh_from_db()
    assert intent.status in (Order.Status.OPEN, Order.Status.CLOSED)
    assert intent.sent_at is not None


def test_the_bound_is_a_setting(paper_bot, market, settings):
    settings.AITRADER_ORDER_INTENT_TTL_CANDLES = 3
    _tick(paper_bot, market)
    intent = _crashed_intent(paper_bot, market)
    _tick(paper_bot, market, 2)
    intent.refresh_from_db()
    assert intent.status != Order.Status.EXPIRED and intent.sent_at is not None


def test_an_intent_older_than_its_bound_by_the_wall_clock_expires(paper_bot, market):
    """A caller that does not know the market's newest candle is still bound, by the clock."""
    _tick(paper_bot, market)
    intent = _crashed_intent(paper_bot, market)
    exchange = _paper_exchange(paper_bot, market)
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        sent = orders.order_submit(bot=paper_bot, order=intent, exchange=exchange)
    assert sent.status == Order.Status.EXPIRED
    assert Order.objects.get(pk=intent.pk).sent_at is None


def test_a_fresh_intent_is_sent_even_when_the_clock_is_far_from_the_candles(paper_bot, market):
    """The market's clock and the wall clock are compared each with its own kind of time:
    replayed candles from 2023 do not make a fresh intent look old."""
    _tick(paper_bot, market)
    intent = _crashed_intent(paper_bot, market)
    sent = orders.order_submit(bot=paper_bot, order=intent,
                               exchange=_paper_exchange(paper_bot, market),
                               newest_candle_ts=_newest_closed(market))
    assert sent.status in (Order.Status.OPEN, Order.Status.CLOSED)


def _paper_exchange(bot, market):
    from trading.exchanges.factory import exchange_for

    return exchange_for(bot.account, market.candles[:market.cursor])
