"""ml_signal bots through the real tick engine: they trade on the tenant's active model, and
hold with the reason in their Thought when the model cannot be used."""
from __future__ import annotations

import pytest

from mlmodels.services import mlmodel_promote, mlmodel_retire
from tests.base import owner_actor
from tests.mlmodels.conftest import register, sample_candles
from tests.trading.conftest import make_paper_bot
from tests.trading.markets import SteppingMarket
from trading.engine import forget_signal_memo, run_tick
from trading.exchanges.factory import reset_market_sources, set_market_source
from trading.marketdata import forget_local_memo
from trading.models import Bot, Thought

PARAMS = {"model_id": "active", "enter_probability": 0.36, "exit_probability": 0.36}


@pytest.fixture
def hourly_market():
    forget_local_memo()
    forget_signal_memo()
    market = SteppingMarket(sample_candles(), timeframe="1h", cursor=1500)
    set_market_source("binance", market)
    yield market
    reset_market_sources()
    forget_local_memo()


@pytest.fixture
def ml_bot(world, hourly_market) -> Bot:
    bot = make_paper_bot(world.tenant_a, name="ml", strategy="ml_signal", parameters=PARAMS)
    Bot.objects.filter(pk=bot.pk).update(timeframe="1h")
    bot.refresh_from_db()
    return bot


def _tick(bot: Bot, market: SteppingMarket, candles: int = 1):
    for _ in range(candles):
        market.step()
        outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    return outcome


def test_an_ml_signal_bot_ticks_on_the_active_model(world, trained, ml_bot, hourly_market):
    model = register(world.tenant_a, trained)
    mlmodel_promote(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), model_id=model.pk)
    outcomes = [_tick(ml_bot, hourly_market) for _ in range(30)]
    assert {o.status for o in outcomes} == {"ticked"}
    thoughts = Thought.objects.filter(bot=ml_bot, kind="decision")
    assert thoughts.count() == 30
    assert not any("strategy_note" in t.data for t in thoughts)
    assert {t.data["signal"] for t in thoughts} != {0}  # the model does speak on this data


def test_a_bot_without_a_usable_model_holds_and_says_why(world, trained, ml_bot,
                                                         hourly_market):
    model = register(world.tenant_a, trained)
    actor = owner_actor(world.tenant_a)
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    mlmodel_retire(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    outcome = _tick(ml_bot, hourly_market)
    thought = Thought.objects.filter(bot=ml_bot, kind="decision").latest("id")
    assert outcome.status == "ticked"
    assert thought.data["signal"] == 0 and thought.data["strategy_note"]
    assert thought.data["strategy_note"] in thought.summary
    assert not ml_bot.orders.exists()


def test_another_tenants_active_model_is_never_used(world, trained, ml_bot, hourly_market):
    model = register(world.tenant_b, trained)
    mlmodel_promote(tenant=world.tenant_b, actor=owner_actor(world.tenant_b), model_id=model.pk)
    _tick(ml_bot, hourly_market)
    thought = Thought.objects.filter(bot=ml_bot, kind="decision").latest("id")
    assert thought.data["signal"] == 0 and "strategy_note" in thought.data
