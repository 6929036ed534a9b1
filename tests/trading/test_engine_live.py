"""The engine against the Binance stand-in through the real ccxt client: shared market data
costs one exchange request for every tenant, and repeated exchange errors pause a bot."""
from __future__ import annotations

import time
from decimal import Decimal

from tests.trading.conftest import make_live_bot, make_paper_bot
from trading.engine import run_tick
from trading.exchanges.factory import WallClockSource, set_market_source
from trading.models import Bot, Order
from trading.sampledata import generate
from trading.services.orders import order_intent_create

KLINES = "/api/v3/klines"


def _recent_klines(count: int = 120) -> list[list]:
    minute = 60_000
    start = (int(time.time() * 1000) // minute - count + 1) * minute
    return generate("BTC/USDT", "1m", count, 3, start).to_rows()


def test_bots_of_three_tenants_cost_one_exchange_request(world, stand_in):
    stand_in.set_klines("BTC/USDT", "1m", _recent_klines())
    set_market_source("binance", WallClockSource("binance"))
    bots = [make_paper_bot(world.tenant_a, name="a1"), make_paper_bot(world.tenant_a, name="a2"),
            make_paper_bot(world.tenant_b, name="b1")]
    for bot in bots:
        assert run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status == "ticked"
    assert stand_in.request_count(KLINES) == 1


def _live_bot(tenant) -> Bot:
    return make_live_bot(tenant, breakers={"exchange_errors": 3})


def test_repeated_exchange_errors_pause_a_live_bot_with_the_reason(world, stand_in, market):
    bot = _live_bot(world.tenant_a)
    order, _ = order_intent_create(bot=bot, candle_ts=1, action="entry", side="buy",
                                   amount=Decimal("0.01"))
    Order.objects.filter(pk=order.pk).update(status=Order.Status.UNKNOWN)  # answer was lost
    stand_in.server_error_next("/api/v3/order", times=50)
    outcomes = []
    for _ in range(3):
        market.step()
        outcomes.append(run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status)
    bot.refresh_from_db()
    assert outcomes[-1] == "paused" and bot.status == Bot.Status.PAUSED
    assert "3 consecutive exchange errors" in bot.paused_reason
    assert not stand_in.orders_with_client_id(order.client_order_id)
