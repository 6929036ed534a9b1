"""The daily loss limit applies on a bot's first UTC day too: the day opens at the bot's
capital (as in the backtester, which opens its first day at the starting cash)."""
from __future__ import annotations

from decimal import Decimal

from tests.trading.conftest import make_paper_bot
from tests.trading.markets import START_MS
from trading import selectors
from trading.engine import run_tick
from trading.models import Bot, EquitySnapshot, Order, Thought

DAY_MS = 86_400_000


def _snapshot(bot: Bot, candle_ts: int, equity: str) -> None:
    EquitySnapshot.objects.create(tenant_id=bot.tenant_id, bot=bot, candle_ts=candle_ts,
                                  equity=Decimal(equity), cash=Decimal(equity),
                                  position_value=Decimal(0))


def test_the_day_opens_at_the_capital_on_the_bots_first_day(world, market):
    bot = make_paper_bot(world.tenant_a)
    assert selectors.equity_at_day_start(bot=bot, candle_ts=START_MS + 3_600_000) == 1000.0
    _snapshot(bot, START_MS + 60_000, "990")  # a snapshot of the same day changes nothing
    assert selectors.equity_at_day_start(bot=bot, candle_ts=START_MS + 3_600_000) == 1000.0


def test_later_days_open_at_the_previous_days_last_equity(world, market):
    bot = make_paper_bot(world.tenant_a)
    _snapshot(bot, START_MS + 60_000, "990")
    _snapshot(bot, START_MS + DAY_MS - 60_000, "970")
    assert selectors.equity_at_day_start(bot=bot, candle_ts=START_MS + DAY_MS + 60_000) == 970.0


def test_a_bot_that_lost_past_the_limit_on_its_first_day_enters_no_more(world, market):
    bot = make_paper_bot(world.tenant_a, risk={"daily_loss_limit_pct": 2.0})
    Bot.objects.filter(pk=bot.pk).update(realized_pnl=Decimal("-50"))  # lost 5 % today
    for _ in range(300):
        market.step()
        assert run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status == "ticked"
        if Thought.objects.filter(bot=bot, summary__contains="Entry signal ignored").exists():
            break
    refused = Thought.objects.filter(bot=bot, summary__contains="Entry signal ignored").first()
    assert refused is not None, "no entry signal in 300 candles"
    assert "daily loss limit of 2% reached" in refused.summary
    assert refused.candle_ts < START_MS + DAY_MS  # still the bot's first UTC day
    assert not Order.objects.filter(bot=bot, side="buy").exists()
