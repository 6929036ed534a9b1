"""A feed that lost its place (a replay that started over) pauses its bots with the reason,
instead of leaving them "running" and idle until it catches up."""
from __future__ import annotations

from tests.trading.conftest import make_paper_bot
from tests.trading.markets import SteppingMarket
from trading.engine import run_tick
from trading.exchanges.factory import set_market_source
from trading.marketdata import forget_local_memo
from trading.models import Bot, Thought


def _tick(bot: Bot):
    return run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def test_a_replay_that_starts_over_pauses_the_bot_with_the_reason(world, market):
    bot = make_paper_bot(world.tenant_a)
    for _ in range(5):
        market.step()
        _tick(bot)
    acted_on = Bot.objects.get(pk=bot.pk).last_candle_ts
    restarted = SteppingMarket.sample()  # the replay forgot its start: back to the beginning
    restarted.cursor = market.cursor - 20
    set_market_source("binance", restarted)
    forget_local_memo()
    outcome = _tick(bot)
    bot.refresh_from_db()
    assert outcome.status == "paused" and bot.status == Bot.Status.PAUSED
    assert "market data went back in time" in bot.paused_reason
    assert "20 candles older" in bot.paused_reason
    thought = Thought.objects.for_tenant(world.tenant_a).filter(bot=bot).latest("id")
    assert "went back in time" in thought.summary
    assert bot.last_candle_ts == acted_on


def test_a_feed_with_no_new_candle_yet_is_not_going_back(world, market):
    bot = make_paper_bot(world.tenant_a)
    market.step()
    _tick(bot)
    outcome = _tick(bot)  # same candle again
    assert outcome.status == "idle"
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.RUNNING
