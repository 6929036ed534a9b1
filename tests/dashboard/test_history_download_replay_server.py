"""The Backtests page's download form on a server that replays sample candles: it suggests
the markets the exchange itself lists once their list is cached (not the replay's few), asks
no exchange while rendering, and takes a typed market the replay does not have."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.trading.replay_server import (  # noqa: F401 (the fixture replay_server)
    EXCHANGE_INFO,
    replay_server_fixture,
)
from trading.sampledata import generate
from trading.services.market import market_catalogue_refresh

pytestmark = pytest.mark.django_db

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
FORM = {"exchange": "binance", "symbol": "SOL/USDT", "timeframe": "1h", "since": "2024-01-01"}


def suggested(html: str) -> list[str]:
    """The markets the download form's symbol field suggests."""
    listed = re.search(r'<datalist id="id_symbol-options">(.*?)</datalist>', html, re.S)
    assert listed, "the download form's symbol has no suggestions list"
    return re.findall(r'<option value="([^"]+)">', listed.group(1))


def download_form_html(client) -> str:
    html = client.get(reverse("dashboard:backtests")).content.decode()
    return html[html.index('id="history-download"'):]


def test_it_suggests_the_exchanges_own_markets_once_cached(alice, replay_server):
    market_catalogue_refresh(exchange_id="binance")

    assert suggested(download_form_html(alice)) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def test_without_a_cached_list_the_page_asks_no_exchange_and_takes_free_text(
        alice, replay_server):
    html = download_form_html(alice)

    assert suggested(html) == []
    assert 'name="symbol"' in html and 'value="BTC/USDT"' in html  # a plain text field
    assert replay_server.request_count(EXCHANGE_INFO) == 0


def test_a_typed_market_the_replay_lacks_is_downloaded(alice, replay_server,
                                                        django_capture_on_commit_callbacks):
    replay_server.set_klines("SOL/USDT", "1h", generate("BTC/USDT", "1h", 48, seed=2,
                                                        start_ms=JAN_1).to_rows())
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(reverse("dashboard:history_download"), FORM)

    assert response.status_code == 302
    assert "Downloaded 48 candles (48 new)" in alice.get(response["Location"]).content.decode()


def test_a_market_the_exchange_does_not_list_is_the_form_with_its_error(alice, replay_server):
    market_catalogue_refresh(exchange_id="binance")
    response = alice.post(reverse("dashboard:history_download"), FORM | {"symbol": "DOGE/USDT"})

    assert response.status_code == 200
    assert "DOGE/USDT is not listed on binance" in " ".join(
        response.context["download_form"].errors["symbol"])
    assert "SOL/USDT" in suggested(response.content.decode()[
        response.content.decode().index('id="history-download"'):])
