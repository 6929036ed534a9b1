"""Catch-up after a gap: a late tick looks back over the candles that closed while no tick ran
(capped), honours a stop, target or exit signal it finds there by selling at the newest price,
never chases a missed entry, and says what it found. A paused bot's candles are never acted
on after it resumes.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.base import owner_actor
from tests.trading.stops import (
    SLIPPAGE,
    calm,
    decimal,
    force_signal,
    holding_bot,
    scripted,  # noqa: F401 (the fixture the tests below use)
    scripted_bot,
    shape_candle,
    tick,
)
from trading.core.display import price_text
from trading.engine import run_tick
from trading.models import Fill, Order, Position, Thought
from trading.services.bots import bot_pause, bot_resume

pytestmark = pytest.mark.usefixtures("scripted")


def _holding(world, market):
    """A bot holding 0.01 BTC whose last tick decided on the entry candle `e` (just closed);
    the candles after it are calm at the entry price. Returns (bot, entry, e)."""
    bot, entry = holding_bot(world, market)
    entry_candle = market.cursor
    for index in range(entry_candle + 1, entry_candle + 8):
        calm(market, index, float(entry))
    tick(bot, market)
    assert Position.objects.get(bot=bot).amount == Decimal("0.01")
    return bot, entry, entry_candle


def _late_tick(bot, market, candles: int):
    """Workers are down while `candles` candles close; then one tick runs."""
    market.step(candles)
    return run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def _summary(bot) -> str:
    return Thought.objects.filter(bot=bot, kind="decision").latest("id").summary


def test_a_stop_touched_while_no_tick_ran_is_honoured_at_the_newest_price(world, market):
    bot, entry, e = _holding(world, market)
    stop = entry * Decimal("0.99")
    shape_candle(market, e + 2, low=float(stop) * 0.995)  # dips through, closes back up

    _late_tick(bot, market, 3)

    sell = Order.objects.get(bot=bot, side="sell")
    assert (sell.reason, sell.candle_ts) == ("stop_loss", int(market.candles.timestamp[e + 3]))
    assert sell.stop_price is None  # a market sale now, not a fill at the old level
    assert _summary(bot).startswith(
        f"3 candles closed while no tick ran; a stop at {price_text(stop)} was touched at ")
    market.step()
    run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    fill = Fill.objects.get(order=sell)
    # Never backdated: the candle forming when it was sent, at its open.
    assert fill.timestamp_ms == int(market.candles.timestamp[e + 4])
    assert fill.price == decimal(market.candles.open[e + 4]) * (1 - SLIPPAGE)


def test_an_exit_signal_on_a_missed_candle_is_honoured(world, market):
    bot, _entry, e = _holding(world, market)
    force_signal(market, e + 1, -1)

    _late_tick(bot, market, 3)

    sell = Order.objects.get(bot=bot, side="sell")
    assert sell.reason == "exit"
    assert "; the strategy signalled an exit at " in _summary(bot)
    thought = Thought.objects.filter(bot=bot, kind="decision").latest("id")
    assert thought.data["catch_up"]["closed"] == 3
    assert thought.data["catch_up"]["event"] == "exit"


def test_a_missed_entry_is_not_chased(world, market):
    bot = scripted_bot(world, name="flat")
    for index in range(market.cursor, market.cursor + 6):
        calm(market, index, float(market.candles.open[market.cursor]))
    tick(bot, market)
    force_signal(market, market.cursor + 1, 1)  # an entry on a candle no tick saw

    outcome = _late_tick(bot, market, 3)

    assert outcome.status == "ticked"
    assert not Order.objects.filter(bot=bot, side="buy").exists()
    assert "3 candles closed while no tick ran; an entry signalled at " in _summary(bot)
    assert "is not chased" in _summary(bot)


def test_the_look_back_is_capped(world, market, settings):
    settings.AITRADER_ENGINE_CATCH_UP_CANDLES = 2
    bot, entry, e = _holding(world, market)
    shape_candle(market, e + 1, low=float(entry) * 0.98)  # older than the last two

    _late_tick(bot, market, 4)

    assert not Order.objects.filter(bot=bot, side="sell").exists()
    assert _summary(bot).startswith(
        "4 candles closed while no tick ran (looked back over the last 2); nothing to act on")


def test_a_paused_bots_candles_are_never_acted_on_after_it_resumes(world, market):
    bot, entry, e = _holding(world, market)
    actor = owner_actor(world.tenant_a)
    bot_pause(tenant=world.tenant_a, actor=actor, bot_id=bot.pk)
    shape_candle(market, e + 2, low=float(entry) * 0.98)  # the stop is touched while paused
    force_signal(market, e + 3, -1)  # and the newest candle signals an exit
    market.step(3)
    bot_resume(tenant=world.tenant_a, actor=actor, bot_id=bot.pk)

    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)

    assert outcome.status == "idle"
    assert not Order.objects.filter(bot=bot, side="sell").exists()
    resumed = Thought.objects.filter(bot=bot, kind="control").latest("id")
    assert resumed.summary.startswith("3 candles closed while the bot was paused")
    # The next candle is the bot's again, and nothing from the pause is caught up.
    tick(bot, market)
    assert not Order.objects.filter(bot=bot, side="sell").exists()
    assert "no tick ran" not in _summary(bot)
    force_signal(market, market.cursor, -1)
    tick(bot, market)
    assert Order.objects.get(bot=bot, side="sell").reason == "exit"
