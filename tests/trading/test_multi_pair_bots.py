"""Multi-pair bots: one bot trades a list of pairs (each with its own candle cursor, strategy
state and position) with a max-open-positions limit across them, and is listed, counted and
controlled as one bot."""
from __future__ import annotations

from decimal import Decimal

import pytest

from aitrader.errors import Conflict, PlanLimitExceeded, ValidationFailed
from tenants.plans import Plan
from tests.base import owner_actor
from trading import selectors
from trading.core.symbols import MAX_PAIRS
from trading.engine import run_due_ticks, run_tick
from trading.models import Bot, Order, Position, Thought
from trading.services import bot_lifecycle
from trading.services.accounts import exchange_account_create
from trading.services.bots import (
    bot_auto_pause,
    bot_close_all,
    bot_create,
    bot_pause,
    bot_resume,
    bot_update,
)
from trading.services.plan_fit import bots_fit_plan

PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def make_pairs_bot(tenant, *, pairs=PAIRS, risk=None, name="basket", symbol="BTC/USDT") -> Bot:
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"paper-{name}",
                                      exchange_id="binance")
    return bot_create(tenant=tenant, actor=actor, name=name, account_id=account.pk,
                      symbol=symbol, pairs=pairs, timeframe="1m", strategy="sma_cross",
                      parameters={"fast": 3, "slow": 8}, preset="aggressive",
                      risk=risk or {}, capital=Decimal("500"))


@pytest.fixture
def basket(world, market) -> Bot:
    return make_pairs_bot(world.tenant_a, risk={"max_open_positions": 1})


def members(bot: Bot) -> list[Bot]:
    return [Bot.objects.get(pk=bot.pk), *selectors.pair_bots(bot=bot)]


def tick_all(market, candles: int) -> None:
    for _ in range(candles):
        run_due_ticks(now=None)
        market.step()
        Bot.objects.update(next_tick_at=Bot._meta.get_field("next_tick_at").default())


def open_positions(bot: Bot) -> list[str]:
    return [member.symbol for member in members(bot)
            if (position := selectors.position_for_bot(bot=member)) is not None
            and position.amount > 0]


def test_it_creates_one_listed_bot_trading_every_pair_with_its_settings(world, basket):
    assert selectors.bot_pairs(bot=basket) == PAIRS
    assert [bot.name for bot in selectors.bot_list_current(tenant=world.tenant_a)] == ["basket"]
    assert selectors.bot_running_count(tenant=world.tenant_a) == 1
    for pair in selectors.pair_bots(bot=basket):
        assert pair.name == f"basket · {pair.symbol}" and pair.lead_id == basket.pk
        assert (pair.strategy, pair.parameters, pair.preset, pair.risk, pair.capital,
                pair.account_id) == (basket.strategy, basket.parameters, basket.preset,
                                     basket.risk, Decimal("500"), basket.account_id)


def test_a_free_plan_runs_one_bot_of_several_pairs(world, market):
    world.tenant_a.plan = Plan.FREE
    world.tenant_a.save()
    bot = make_pairs_bot(world.tenant_a)
    assert len(selectors.bot_pairs(bot=bot)) == 3
    with pytest.raises(PlanLimitExceeded):  # the plan's one bot is taken, whatever its pairs
        make_pairs_bot(world.tenant_a, name="second", pairs=["BTC/USDT"])


def test_each_pair_ticks_on_its_own_candle_cursor(world, basket, market):
    tick_all(market, 3)
    cursors = {member.symbol: member.last_candle_ts for member in members(basket)}
    assert set(cursors) == set(PAIRS) and None not in cursors.values()
    assert Thought.objects.for_tenant(world.tenant_a).filter(
        bot__lead=basket, kind=Thought.Kind.DECISION).count() >= 4


def test_max_open_positions_holds_across_the_pairs(world, basket, market):
    # The stepping market serves the same candles for every pair: each pair signals at
    # once, and only one of them may open a position.
    tick_all(market, 200)
    entries = Order.objects.for_tenant(world.tenant_a).filter(
        bot__in=members(basket), side="buy")
    assert entries.exists()
    assert len(open_positions(basket)) <= 1
    refused = Thought.objects.for_tenant(world.tenant_a).filter(
        bot__in=members(basket), summary__contains="its limit of 1 open position")
    assert refused.exists()
    # At no candle did two pairs have an entry in flight or a position at the same time.
    by_candle: dict[int, set[int]] = {}
    for order in entries:
        by_candle.setdefault(order.candle_ts, set()).add(order.bot_id)
    assert all(len(bots) == 1 for bots in by_candle.values())


def test_a_limit_of_two_lets_two_pairs_hold(world, market):
    bot = make_pairs_bot(world.tenant_a, risk={"max_open_positions": 2})
    tick_all(market, 200)
    entries = Order.objects.for_tenant(world.tenant_a).filter(bot__in=members(bot),
                                                               side="buy")
    per_candle = {}
    for order in entries:
        per_candle.setdefault(order.candle_ts, set()).add(order.bot_id)
    assert max(len(bots) for bots in per_candle.values()) == 2


def test_controls_act_on_every_pair(world, basket):
    actor = owner_actor(world.tenant_a)
    bot_pause(tenant=world.tenant_a, actor=actor, bot_id=basket.pk)
    assert {member.status for member in members(basket)} == {Bot.Status.PAUSED}
    bot_resume(tenant=world.tenant_a, actor=actor, bot_id=basket.pk)
    assert {member.status for member in members(basket)} == {Bot.Status.RUNNING}
    bot_close_all(tenant=world.tenant_a, actor=actor, bot_id=basket.pk)
    assert all(member.close_requested_at is not None for member in members(basket))


def test_resuming_the_bot_resumes_a_pair_its_breaker_paused(world, basket):
    pair = selectors.pair_bots(bot=basket)[0]
    bot_auto_pause(bot=pair, reason="stale data")
    bot_resume(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=basket.pk)
    pair.refresh_from_db()
    assert pair.status == Bot.Status.RUNNING and pair.resume_pending


def test_a_pair_bot_is_not_controlled_on_its_own(world, basket):
    pair = selectors.pair_bots(bot=basket)[0]
    with pytest.raises(Conflict, match="trades one pair of basket"):
        bot_pause(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=pair.pk)
    with pytest.raises(Conflict):
        bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=pair.pk,
                   preset="conservative")


def test_an_edit_reaches_every_pair_and_the_pairs_can_change_while_flat(world, basket):
    actor = owner_actor(world.tenant_a)
    bot_update(tenant=world.tenant_a, actor=actor, bot_id=basket.pk, name="majors",
               preset="conservative", capital="250",
               pairs=["BTC/USDT", "ETH/USDT", "ADA/USDT"])
    pairs = selectors.pair_bots(bot=basket)
    assert [pair.symbol for pair in pairs] == ["ETH/USDT", "ADA/USDT"]
    assert {(pair.preset, pair.capital) for pair in pairs} == {("conservative", Decimal(250))}
    assert [pair.name for pair in pairs] == ["majors · ETH/USDT", "majors · ADA/USDT"]
    # SOL/USDT never traded: its bot is gone, not archived.
    assert not Bot.objects.filter(symbol="SOL/USDT").exists()


def test_a_pair_holding_a_position_cannot_be_dropped(world, basket):
    eth = selectors.pair_bots(bot=basket)[0]
    Position.objects.create(tenant=world.tenant_a, bot=eth, symbol=eth.symbol,
                            amount=Decimal("0.5"), average_price=Decimal(100), entries=1)
    with pytest.raises(Conflict, match="ETH/USDT only while that pair is flat"):
        bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=basket.pk,
                   pairs=["BTC/USDT", "SOL/USDT"])
    assert selectors.bot_pairs(bot=basket) == PAIRS
    with pytest.raises(Conflict, match="only while flat; on ETH/USDT it holds 0.5 ETH"):
        bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=basket.pk,
                   timeframe="1h")


def test_a_dropped_pair_that_traded_is_archived_and_comes_back(world, basket):
    actor = owner_actor(world.tenant_a)
    sol = selectors.pair_bots(bot=basket)[1]
    Order.objects.create(tenant=world.tenant_a, bot=sol, account=sol.account, symbol=sol.symbol,
                         client_order_id="ait-test-sol", candle_ts=1, side="sell",
                         amount=Decimal(1), status=Order.Status.CANCELED)
    bot_update(tenant=world.tenant_a, actor=actor, bot_id=basket.pk,
               pairs=["BTC/USDT", "ETH/USDT"])
    sol.refresh_from_db()
    assert sol.archived_at is not None and sol.status == Bot.Status.STOPPED
    assert selectors.bot_pairs(bot=basket) == ["BTC/USDT", "ETH/USDT"]
    bot_update(tenant=world.tenant_a, actor=actor, bot_id=basket.pk, pairs=PAIRS)
    sol.refresh_from_db()
    assert sol.archived_at is None and selectors.bot_pairs(bot=basket) == PAIRS


def test_stop_archive_and_delete_take_the_pairs_along(world, basket):
    actor = owner_actor(world.tenant_a)
    bot_lifecycle.bot_archive(tenant=world.tenant_a, actor=actor, bot_id=basket.pk)
    assert {member.status for member in members(basket)} == {Bot.Status.STOPPED}
    assert selectors.bot_list_current(tenant=world.tenant_a).count() == 0
    bot_lifecycle.bot_delete(tenant=world.tenant_a, actor=actor, bot_id=basket.pk)
    assert not Bot.objects.for_tenant(world.tenant_a).exists()


def test_duplicate_copies_the_pairs(world, basket):
    copy = bot_lifecycle.bot_duplicate(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                       bot_id=basket.pk)
    assert selectors.bot_pairs(bot=copy) == PAIRS
    assert {pair.status for pair in selectors.pair_bots(bot=copy)} == {Bot.Status.PAUSED}


def test_a_downgrade_pauses_a_bot_with_all_its_pairs(world, basket, market):
    make_pairs_bot(world.tenant_a, name="second", pairs=["BTC/USDT", "ETH/USDT"])
    world.tenant_a.plan = Plan.FREE
    world.tenant_a.save()
    paused = bots_fit_plan(tenant=world.tenant_a, reason="test")
    second = Bot.objects.get(name="second")
    assert set(paused) == {member.pk for member in members(second)}
    assert {member.status for member in members(basket)} == {Bot.Status.RUNNING}


@pytest.mark.parametrize(("pairs", "message"), [
    ([f"C{number}/USDT" for number in range(MAX_PAIRS + 1)], f"at most {MAX_PAIRS} pairs"),
    (["BTC/USDT", "ETH/BTC"], "quoted in USDT"),
    (["BTC/USDT", "<b>"], "BASE/QUOTE"),
    ("BTC/USDT, ETH/USDT;", "BASE/QUOTE"),
    (42, "as a list"),
])
def test_bad_pairs_are_refused_naming_the_field(world, market, pairs, message):
    with pytest.raises(ValidationFailed, match=message) as caught:
        make_pairs_bot(world.tenant_a, pairs=pairs)
    assert caught.value.field == "pairs"
    assert not Bot.objects.for_tenant(world.tenant_a).exists()


def test_pairs_given_as_text_are_split_and_kept_once(world, market):
    bot = make_pairs_bot(world.tenant_a, pairs="BTC/USDT, eth/usdt\nETH/USDT SOL/USDT")
    assert selectors.bot_pairs(bot=bot) == PAIRS


def test_run_tick_of_one_pair_leaves_the_others_alone(world, basket, market):
    pair = selectors.pair_bots(bot=basket)[0]
    run_tick(tenant_id=pair.tenant_id, bot_id=pair.pk)
    assert [member.last_candle_ts is not None for member in members(basket)] == \
        [False, True, False]
