"""A live bot never trades on replayed sample candles: starting one on a replaying server is
refused with the reason, and a running one whose feed turns out to be a replay is paused
before any order leaves."""
from __future__ import annotations

import pytest

from aitrader.errors import ValidationFailed
from tests.base import owner_actor
from tests.trading.conftest import make_live_bot, make_paper_bot
from trading.engine import run_tick
from trading.exchanges.factory import set_market_source
from trading.exchanges.replay import replay_source_for
from trading.marketdata import forget_local_memo
from trading.models import Bot, ManualOrder, Order
from trading.services.bots import bot_pause, bot_resume
from trading.services.credentials import exchange_credentials_remove
from trading.services.manual import manual_order_request

REFUSAL = "this server replays sample candles"


@pytest.fixture
def replaying(tmp_path):
    """This server's feed for 'binance' is the replay of the sample files."""
    forget_local_memo()
    set_market_source("binance", replay_source_for(tmp_path, speed=None))
    yield
    forget_local_memo()


def test_a_live_bot_cannot_be_created_on_replayed_data(world, stand_in, replaying):
    with pytest.raises(ValidationFailed, match=REFUSAL):
        make_live_bot(world.tenant_a)
    assert not Bot.objects.for_tenant(world.tenant_a).exists()


def test_a_paper_bot_runs_on_replayed_data(world, replaying):
    bot = make_paper_bot(world.tenant_a)
    assert bot.status == Bot.Status.RUNNING


def test_a_paused_live_bot_cannot_resume_on_replayed_data(world, stand_in, market, tmp_path):
    bot = make_live_bot(world.tenant_a)
    actor = owner_actor(world.tenant_a)
    bot_pause(tenant=world.tenant_a, actor=actor, bot_id=bot.pk)
    set_market_source("binance", replay_source_for(tmp_path, speed=None))
    forget_local_memo()
    with pytest.raises(ValidationFailed, match=REFUSAL):
        bot_resume(tenant=world.tenant_a, actor=actor, bot_id=bot.pk)
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED


def test_a_running_live_bot_on_a_replay_is_paused_before_any_order(world, stand_in, market,
                                                                   tmp_path):
    bot = make_live_bot(world.tenant_a)
    set_market_source("binance", replay_source_for(tmp_path, speed=None))
    forget_local_memo()
    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    bot.refresh_from_db()
    assert outcome.status == "paused" and bot.status == Bot.Status.PAUSED
    assert REFUSAL in bot.paused_reason
    assert not Order.objects.for_tenant(world.tenant_a).filter(bot=bot).exists()


def test_an_entry_by_hand_on_a_replay_is_refused_before_any_order(world, stand_in, market,
                                                                   tmp_path):
    """A trader's (or a signal webhook's) order by hand is sized on the candles too: a live
    bot whose feed is a replay is paused before it, and nothing reaches the exchange."""
    bot = make_live_bot(world.tenant_a)
    request = manual_order_request(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                   bot_id=bot.pk, action="enter")
    set_market_source("binance", replay_source_for(tmp_path, speed=None))
    forget_local_memo()
    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    bot.refresh_from_db()
    assert outcome.status == "paused" and REFUSAL in bot.paused_reason
    assert not Order.objects.for_tenant(world.tenant_a).filter(bot=bot).exists()
    request.refresh_from_db()
    assert request.status == ManualOrder.Status.REFUSED and REFUSAL in request.note


def test_a_live_bot_whose_keys_were_removed_cannot_resume(world, stand_in, market):
    """Resuming asks what creating asks: the plan, the keys and the exchange's own data."""
    bot = make_live_bot(world.tenant_a)
    actor = owner_actor(world.tenant_a)
    bot_pause(tenant=world.tenant_a, actor=actor, bot_id=bot.pk)
    exchange_credentials_remove(tenant=world.tenant_a, actor=actor, account_id=bot.account_id)
    with pytest.raises(ValidationFailed, match="no API credentials"):
        bot_resume(tenant=world.tenant_a, actor=actor, bot_id=bot.pk)
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
