"""The bot's P&L per day/week/month on its page, in the API and in Telegram, on the market's
clock (a replayed market runs on its own dates)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.base import client_past_second_factor
from tests.dashboard.conftest import paper_bot
from trading.models import Bot, Trade

MARKET_NOW = datetime(2024, 5, 15, 12, tzinfo=UTC)  # the replayed market's clock, not today's


@pytest.fixture
def bot(world) -> Bot:
    bot = paper_bot(world.tenant_a, name="trend")
    Bot.objects.filter(pk=bot.pk).update(last_candle_ts=int(MARKET_NOW.timestamp() * 1000))
    for days_ago, pnl, symbol in ((0, "2.50", "BTC/USDT"), (0, "-1.25", "BTC/USDT"),
                                  (2, "4.00", "ETH/USDT")):
        exit_time = MARKET_NOW - timedelta(days=days_ago)
        Trade.objects.create(tenant=world.tenant_a, bot=bot, symbol=symbol,
                             amount=Decimal("0.01"), entry_price=Decimal("100"),
                             exit_price=Decimal("101"), status=Trade.Status.CLOSED,
                             entry_time=exit_time - timedelta(hours=1), exit_time=exit_time,
                             pnl=Decimal(pnl))
    bot.refresh_from_db()
    return bot


def test_the_api_gives_days_on_the_market_clock_with_pairs(world, bot):
    api = world.client_with_key(world.read_key_a)
    body = api.get(f"/api/v1/bots/{bot.pk}/pnl/", {"period": "day", "count": "3"}).json()
    assert [(r["start"], r["trades"], r["pnl"]) for r in body["rows"]] == [
        ("2024-05-15", 2, "1.250000000000"), ("2024-05-14", 0, "0.000000000000"),
        ("2024-05-13", 1, "4.000000000000")]
    assert [p["symbol"] for p in body["pairs"]] == ["ETH/USDT", "BTC/USDT"]


@pytest.mark.parametrize("query", [{"period": "year"}, {"count": "0"}, {"count": "91"},
                                   {"count": "lots"}])
def test_the_api_refuses_bad_periods_and_counts(world, bot, query):
    response = world.client_with_key(world.read_key_a).get(f"/api/v1/bots/{bot.pk}/pnl/", query)
    assert response.status_code == 400


def test_another_tenant_gets_404(world, bot):
    response = world.client_with_key(world.read_key_b).get(f"/api/v1/bots/{bot.pk}/pnl/")
    assert response.status_code == 404


def test_the_bot_page_shows_the_three_tables_and_the_pairs(world, bot):
    body = client_past_second_factor(world.alice).get(f"/bots/{bot.pk}/").content.decode()
    assert 'id="pnl-periods"' in body and 'data-period="weekly"' in body
    assert "Wed 15 May" in body and "+1.25" in body and 'id="pnl-pairs"' in body
