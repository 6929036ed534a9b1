"""Query counts of ticks: a batch costs the same few queries whatever its size.

The common tick (a new candle, nothing to order, no order to follow) must not pay per bot:
claim, load bots, positions, pending orders, pending manual orders, then thoughts + equity +
engine state in one transaction. SAVEPOINT / RELEASE count here because the test runs inside
a transaction.
"""
from __future__ import annotations

import pytest

from tenants.models import Tenant
from tenants.plans import Plan
from tests.trading.conftest import make_paper_bot
from trading.core.strategies import get_strategy
from trading.engine import bot_market_snapshot, run_tick, run_ticks
from trading.models import Bot, Thought

# claim, load bots, positions, pending orders, pending manual orders, SAVEPOINT,
# INSERT equity, INSERT thoughts, UPDATE bots, RELEASE SAVEPOINT
NEW_CANDLE_QUERIES = 10
# the same without the two INSERTs: nothing to record when no candle closed
NO_NEW_CANDLE_QUERIES = 8


def _bots(tenant: Tenant, count: int) -> list[Bot]:
    Tenant.objects.filter(pk=tenant.pk).update(plan=Plan.ENTERPRISE)
    tenant.refresh_from_db()
    return [make_paper_bot(tenant, name=f"bot-{i}") for i in range(count)]


def _step_to_a_quiet_candle(market, bot: Bot) -> None:
    """Step until the newest closed candle carries no signal (no order to place), and warm
    the shared feed so the once-per-period fetch is not counted against the ticks."""
    strategy = get_strategy(bot.strategy)
    while True:
        market.step()
        closed = bot_market_snapshot(bot).closed()
        if int(strategy.signals(closed, bot.parameters)[-1]) == 0:
            return


def test_one_tick_on_a_new_candle_costs_a_fixed_number_of_queries(
        world, market, django_assert_num_queries):
    bot, = _bots(world.tenant_a, 1)
    _step_to_a_quiet_candle(market, bot)
    with django_assert_num_queries(NEW_CANDLE_QUERIES):
        outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    assert outcome.status == "ticked"


@pytest.mark.parametrize("count", [2, 12])
def test_a_batch_on_a_new_candle_costs_the_queries_of_one_tick(
        world, market, django_assert_num_queries, count):
    bots = _bots(world.tenant_a, count)
    _step_to_a_quiet_candle(market, bots[0])
    with django_assert_num_queries(NEW_CANDLE_QUERIES):
        outcomes = run_ticks(tenant_id=world.tenant_a.pk, bot_ids=[bot.pk for bot in bots])
    assert [o.status for o in outcomes] == ["ticked"] * count
    assert Thought.objects.filter(bot__in=bots, kind="decision").count() == count


@pytest.mark.parametrize("count", [1, 12])
def test_a_batch_without_a_new_candle_costs_a_fixed_number_of_queries(
        world, market, django_assert_num_queries, count):
    bots = _bots(world.tenant_a, count)
    _step_to_a_quiet_candle(market, bots[0])
    run_ticks(tenant_id=world.tenant_a.pk, bot_ids=[bot.pk for bot in bots])
    with django_assert_num_queries(NO_NEW_CANDLE_QUERIES):
        outcomes = run_ticks(tenant_id=world.tenant_a.pk, bot_ids=[bot.pk for bot in bots])
    assert [o.status for o in outcomes] == ["idle"] * count
