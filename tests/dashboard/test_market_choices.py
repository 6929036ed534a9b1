"""Markets a user can choose come from the catalogue, on the page and in the API: on this
server's replay, BTC/USDT and ETH/USDT with their files' timeframes and those resampled from
them; a market without data is refused on the form with the reason."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.dashboard.conftest import paper_bot
from trading.exchanges.factory import reset_market_sources
from trading.marketdata import forget_local_memo
from trading.models import Bot

pytestmark = pytest.mark.django_db
URL = "/api/v1/markets/"


@pytest.fixture(autouse=True)
def replayed():
    """The server's own default feed: the replayed sample files."""
    reset_market_sources()
    forget_local_memo()
    yield
    reset_market_sources()
    forget_local_memo()


def _options(html: str, select_name: str) -> list[str]:
    select = re.search(rf'<select name="{select_name}"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_the_new_bot_form_offers_the_catalogue(alice):
    html = alice.get(reverse("dashboard:overview")).content.decode()

    suggested = re.search(r'<datalist id="id_symbol-options">(.*?)</datalist>', html, re.S)
    assert re.findall(r'value="([^"]+)"', suggested.group(1)) == ["BTC/USDT", "ETH/USDT"]
    timeframes = _options(html, "timeframe")
    assert {"1m", "5m", "15m", "1h", "4h", "1d"} <= set(timeframes)
    assert "1w" not in timeframes  # no weekly data, and none can be resampled


def test_a_bot_on_a_market_without_data_is_refused_on_the_form(alice, world):
    before = Bot.objects.for_tenant(world.tenant_a).count()
    response = alice.post(reverse("dashboard:bot_new"), {
        "name": "nowhere", "account": "new-paper", "symbol": "SOL/USDT", "timeframe": "1m",
        "strategy": "sma_cross", "preset": "balanced", "capital": "1000"})

    assert "SOL/USDT is not a market on binance here" in response.content.decode()
    assert Bot.objects.for_tenant(world.tenant_a).count() == before


def test_a_bot_on_a_resampled_timeframe_is_made_from_the_form(alice, world):
    response = alice.post(reverse("dashboard:bot_new"), {
        "name": "four-hourly", "account": "new-paper", "symbol": "ETH/USDT",
        "timeframe": "4h", "strategy": "sma_cross", "preset": "balanced", "capital": "1000"})

    assert response.status_code == 302
    assert Bot.objects.for_tenant(world.tenant_a).get(name="four-hourly").timeframe == "4h"


def test_the_edit_form_offers_the_bots_exchange_markets(alice, world):
    bot = paper_bot(world.tenant_a)
    html = alice.get(reverse("dashboard:bot_detail", args=[bot.pk])).content.decode()
    assert "4h" in _options(html, "timeframe")
    assert '<option value="ETH/USDT">' in html


def test_the_api_lists_each_exchange_of_the_tenant(world):
    body = world.client_with_key(world.read_key_a).get(URL).json()
    binance = body["exchanges"]["binance"]
    assert set(binance) == {"BTC/USDT", "ETH/USDT"}
    assert "4h" in binance["BTC/USDT"] and "1w" not in binance["BTC/USDT"]


@pytest.mark.parametrize("query", ["?exchange=mtgox", "?exchange=binance&exchange=kraken"])
def test_the_api_refuses_an_unknown_exchange_clearly(world, query):
    response = world.client_with_key(world.read_key_a).get(URL + query)
    assert response.status_code == 400
    assert "exchange" in response.json()["error"]["fields"]
