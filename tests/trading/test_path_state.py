"""Path-dependent strategies (DCA, grid) keep their state across ticks.

A DCA deal or a grid's held levels depend on every candle since the strategy started. A live
bot's walk starts on its first candle and is saved on the bot after every tick, so it signals
exactly what a backtest starting on that candle signals, however long it runs.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.base import owner_actor
from tests.trading.conftest import make_paper_bot
from tests.trading.markets import SteppingMarket
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.strategies import STRATEGIES, get_strategy
from trading.engine import run_tick
from trading.exchanges.factory import set_market_source
from trading.models import Bot, Thought
from trading.services.bots import bot_update

DCA = {"interval": 6, "safety_orders": 3, "safety_step_pct": 0.3, "take_profit_pct": 0.4}
GRID = {"levels": 12, "range_pct": 1.5}


@pytest.fixture
def market(market):
    """A choppier market than the default sample (which only falls): deals close, grids cycle."""
    choppy = SteppingMarket.sample(seed=9)
    set_market_source("binance", choppy)
    return choppy


def _run(bot, market, candles: int) -> tuple[int, int]:
    """Tick the bot on `candles` new candles; the candle indices (first, end) it decided on."""
    first = market.cursor
    for _ in range(candles):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    return first, market.cursor


def _live_signals(bot) -> list[int]:
    return [row.data["signal"] for row in
            Thought.objects.filter(bot=bot, kind=Thought.Kind.DECISION).order_by("candle_ts")]


def _backtest_signals(bot, market, first: int, end: int) -> list[int]:
    strategy = get_strategy(bot.strategy)
    return [int(value) for value in strategy.signals(market.candles[first:end], bot.parameters)]


def test_a_dca_bot_signals_live_what_a_backtest_from_its_first_candle_signals(world, market):
    bot = make_paper_bot(world.tenant_a, strategy="dca", parameters=DCA)
    first, end = _run(bot, market, 400)  # longer than the feed's 300-candle window
    expected = _backtest_signals(bot, market, first, end)
    assert expected.count(-1) >= 3 and expected.count(1) >= 6
    assert _live_signals(bot) == expected


def test_an_auto_range_grid_keeps_the_levels_of_its_first_candle(world, market):
    bot = make_paper_bot(world.tenant_a, strategy="grid", parameters=GRID)
    first, end = _run(bot, market, 400)
    expected = _backtest_signals(bot, market, first, end)
    assert expected.count(1) >= 3 and expected.count(-1) >= 1
    assert _live_signals(bot) == expected
    state = Bot.objects.get(pk=bot.pk).strategy_state
    assert state["walk"]["anchor"] == float(market.candles.close[first])


def test_the_walk_is_saved_on_the_bot_with_each_tick(world, market):
    bot = make_paper_bot(world.tenant_a, strategy="dca", parameters=DCA)
    _first, end = _run(bot, market, 25)
    state = Bot.objects.get(pk=bot.pk).strategy_state
    assert state["last_ts"] == int(market.candles.timestamp[end - 1])
    assert state["walk"]["fed"] == 25


def test_a_local_strategy_saves_no_walk(world, market):
    bot = make_paper_bot(world.tenant_a)
    _run(bot, market, 3)
    assert Bot.objects.get(pk=bot.pk).strategy_state == {}


def test_new_parameters_start_a_new_walk(world, market):
    bot = make_paper_bot(world.tenant_a, strategy="dca", parameters=DCA)
    _run(bot, market, 10)
    bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=bot.pk,
               parameters={**DCA, "interval": 7})
    _run(bot, market, 3)
    assert Bot.objects.get(pk=bot.pk).strategy_state["walk"]["fed"] == 3


def test_every_path_dependent_strategy_walks(world):
    for strategy in STRATEGIES.values():
        if strategy.path_dependent:
            signals, state = strategy.walk(random_walk_candles(5), strategy.validate_params({}),
                                           None)
            assert signals.shape == (5,) and isinstance(state, dict)


path_params = st.one_of(
    st.tuples(st.just("dca"), st.fixed_dictionaries(
        {"interval": st.integers(1, 12), "safety_orders": st.integers(0, 4),
         "safety_step_pct": st.sampled_from([0.2, 0.5, 1.0]),
         "take_profit_pct": st.sampled_from([0.2, 0.5, 1.0])})),
    st.tuples(st.just("grid"), st.fixed_dictionaries(
        {"levels": st.integers(2, 20), "range_pct": st.sampled_from([0.5, 1.0, 3.0]),
         "spacing": st.sampled_from(["arithmetic", "geometric"])})),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=path_params, seed=st.integers(0, 2**32 - 1),
       steps=st.lists(st.integers(1, 40), min_size=1, max_size=12))
def test_resuming_tick_by_tick_equals_one_walk(strategy, seed, steps):
    """However many candles close between ticks, the saved walk gives one walk's signals."""
    key, params = strategy
    candles = random_walk_candles(120, seed=seed, volatility=0.004)
    strategy_class = get_strategy(key)
    live, saved = strategy_class.resume(candles[:1], params, None)  # the bot's first tick
    live, end = live.tolist(), 1
    for step in steps:
        end = min(end + step, len(candles))
        window = candles[max(0, end - 50):end]  # the newest 50 closed candles of the feed
        signals, saved = strategy_class.resume(window, params, saved)
        live.extend(signals.tolist())
    assert live == strategy_class.signals(candles[:end], params).tolist()
