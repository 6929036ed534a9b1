"""The tick engine end to end: shared candles -> strategy -> risk -> paper orders -> ledger."""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from trading import selectors
from trading.engine import run_tick
from trading.models import Bot, EquitySnapshot, Fill, Order, Position, Thought, Trade


def _run(bot, market, candles: int) -> list:
    outcomes = []
    for _ in range(candles):
        market.step()
        outcomes.append(run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk))
    return outcomes


def test_it_trades_a_paper_bot_through_real_ticks(paper_bot, market):
    outcomes = _run(paper_bot, market, 300)
    assert {o.status for o in outcomes} == {"ticked"}
    assert Order.objects.filter(bot=paper_bot, status="closed").count() >= 4
    assert Trade.objects.filter(bot=paper_bot, status="closed").exists()
    assert Thought.objects.filter(bot=paper_bot, kind="decision").count() == 300
    assert EquitySnapshot.objects.filter(bot=paper_bot).count() == 300


def test_it_fills_a_market_order_at_the_next_candles_open(paper_bot, market):
    _run(paper_bot, market, 300)
    order = Order.objects.filter(bot=paper_bot, side="buy", status="closed").first()
    fill = Fill.objects.get(order=order)
    index = list(market.candles.timestamp).index(order.candle_ts) + 1
    next_open = Decimal(str(float(market.candles.open[index])))
    assert fill.timestamp_ms == int(market.candles.timestamp[index])
    expected = next_open * (1 + paper_bot.account.slippage)
    assert abs(fill.price - expected) < Decimal("0.000001")


def test_position_equals_the_sum_of_its_fills(paper_bot, market):
    _run(paper_bot, market, 250)
    bought = Fill.objects.filter(bot=paper_bot, side="buy").aggregate(s=Sum("amount"))["s"]
    sold = Fill.objects.filter(bot=paper_bot, side="sell").aggregate(s=Sum("amount"))["s"]
    position = Position.objects.get(bot=paper_bot)
    assert position.amount == (bought or 0) - (sold or 0)


def test_it_does_nothing_when_no_new_candle_closed(paper_bot, market):
    market.step()
    first = run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk)
    second = run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk)
    assert (first.status, second.status) == ("ticked", "idle")
    assert Thought.objects.filter(bot=paper_bot).count() == 1


def test_a_paused_bot_places_nothing(paper_bot, market):
    Bot.objects.filter(pk=paper_bot.pk).update(status=Bot.Status.PAUSED)
    _run(paper_bot, market, 200)
    assert not Order.objects.filter(bot=paper_bot).exists()
    assert not Thought.objects.filter(bot=paper_bot, kind="decision").exists()


def test_a_tick_never_overlaps_another_tick_of_the_same_bot(paper_bot, market):
    from django.utils import timezone

    from trading.services.bots import bot_claim_tick

    assert bot_claim_tick(bot_id=paper_bot.pk, now=timezone.now())
    market.step()
    outcome = run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk)
    assert outcome.status == "skipped"


def test_stale_market_data_auto_pauses_with_the_reason(paper_bot, market):
    _run(paper_bot, market, 1)
    market.freeze()
    outcomes = _run(paper_bot, market, 6)
    bot = selectors.bot_get(tenant=paper_bot.tenant_id, bot_id=paper_bot.pk)
    assert bot.status == Bot.Status.PAUSED
    assert "market data stale" in bot.paused_reason
    assert "paused" in {o.status for o in outcomes}
    assert Thought.objects.filter(bot=paper_bot, kind="breaker",
                                  summary__startswith="Paused").exists()


def test_a_dead_feed_auto_pauses_after_the_disconnect_limit(world, market):
    from tests.trading.conftest import make_paper_bot

    bot = make_paper_bot(world.tenant_a, name="fragile")
    Bot.objects.filter(pk=bot.pk).update(breakers={"disconnect_seconds": 1})
    market.fail = True
    market.step()
    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    bot.refresh_from_db()
    assert outcome.status == "paused" and "market data unavailable" in bot.paused_reason


def test_bots_of_many_tenants_share_one_fetch_per_candle(world, market):
    from tests.trading.conftest import make_paper_bot

    bots = [make_paper_bot(world.tenant_a, name="a1"), make_paper_bot(world.tenant_b, name="b1"),
            make_paper_bot(world.tenant_b, name="b2")]
    for _ in range(5):
        market.step()
        for bot in bots:
            run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    assert market.fetches == 5
