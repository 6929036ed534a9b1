"""Every tick holds the stop and target against the newest price (the candle still forming in
the shared snapshot), not only when a candle closes; and a quiet tick still costs nothing.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.trading.stops import (
    SLIPPAGE,
    assert_sold_at_the_stop_between_closes,
    calm,
    holding_bot,
    scripted,  # noqa: F401 (the fixture the tests below use)
    shape_candle,
    tick,
)
from tests.trading.test_engine_queries import NO_NEW_CANDLE_QUERIES
from trading.engine import run_tick, run_ticks
from trading.models import Fill, Order, Position

pytestmark = pytest.mark.usefixtures("scripted")


def _hold_with_a_dip_forming(world, market, *, dip: bool = True):
    """A bot holding 0.01 BTC from the candle that just closed, while the candle forming
    now dips 2 % (through its 1 % stop) or stays calm; (bot, entry price, forming index)."""
    bot, entry = holding_bot(world, market)
    forming = market.cursor + 1
    if dip:
        shape_candle(market, forming, open_=float(entry), low=float(entry) * 0.98,
                     close=float(entry) * 0.985, high=float(entry) * 1.0005)
    else:
        calm(market, forming, float(entry))
    tick(bot, market)  # the entry candle closes: the position is held, nothing touched
    assert Position.objects.get(bot=bot).amount == Decimal("0.01")
    assert not Order.objects.filter(bot=bot, side="sell").exists()
    return bot, entry, forming


def test_a_tick_between_closes_sells_when_the_forming_candle_touches_the_stop(world, market):
    bot, entry, forming = _hold_with_a_dip_forming(world, market)

    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)  # no candle closed since

    assert outcome.status == "ticked"
    sell = assert_sold_at_the_stop_between_closes(bot, market, forming, entry)
    stop = entry * Decimal("0.99")
    # The forming candle closes: the sale fills on it, at the stop, as the backtester would.
    calm(market, forming + 1, float(market.candles.close[forming]))
    tick(bot, market)
    fill = Fill.objects.get(order=sell)
    assert fill.timestamp_ms == int(market.candles.timestamp[forming])
    assert abs(fill.price - stop * (1 - SLIPPAGE)) <= stop * Decimal("1e-12")
    assert Position.objects.get(bot=bot).amount == 0


def test_further_ticks_in_the_same_candle_place_no_second_exit(world, market):
    bot, _entry, _forming = _hold_with_a_dip_forming(world, market)
    for _ in range(4):
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    assert Order.objects.filter(bot=bot, side="sell").count() == 1


def test_an_untouched_stop_costs_a_quiet_tick_no_extra_query(world, market,
                                                            django_assert_num_queries):
    bot, _entry, _forming = _hold_with_a_dip_forming(world, market, dip=False)
    with django_assert_num_queries(NO_NEW_CANDLE_QUERIES):
        outcomes = run_ticks(tenant_id=bot.tenant_id, bot_ids=[bot.pk])
    assert outcomes[0].status == "idle"
    assert Position.objects.get(bot=bot).amount == Decimal("0.01")
