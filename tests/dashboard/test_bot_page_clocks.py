"""The bot page's tables keep one clock: orders show the candle they acted on, on the market's
clock like the trades (a replay's market time is far from the wall clock), with the wall time
they were placed as the cell's title."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.dashboard.conftest import paper_bot, tick
from trading.models import Order

pytestmark = pytest.mark.django_db


def test_orders_show_the_market_time_of_their_candle(world, client, market):
    bot = paper_bot(world.tenant_a, parameters={"fast": 3, "slow": 8})
    tick(bot, market, 80)
    order = Order.objects.for_tenant(world.tenant_a).filter(bot=bot).latest("created_at")
    client.force_login(world.alice)

    html = client.get(f"/bots/{bot.pk}/").content.decode()

    table = re.search(r'<table class="table responsive" id="orders-table">(.*?)</table>', html,
                      re.S).group(1)
    candle = datetime.fromtimestamp(order.candle_ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    placed = order.created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert f'title="placed {placed} UTC">{candle}</td>' in table
    assert candle[:4] != order.created_at.strftime("%Y")  # the stepping market lives in 2023
