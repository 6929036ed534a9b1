"""History downloads on a server whose feed replays sample candles (the embedded default).

A download reads the exchange's public API, never the replay, so its market is checked
against the exchange's own market list (kept in the shared cache), not the replay's few
sample markets; bots, which trade on the replayed candles, are still checked against the
replay. Before the exchange's list is cached a well-formed market is queued, and the job
records the exchange's answer when the market is not listed there.
"""
from __future__ import annotations

import pytest

from aitrader.errors import ValidationFailed
from tests.base import owner_actor
from tests.trading.replay_server import (  # noqa: F401 (the fixture replay_server)
    EXCHANGE_INFO,
    replay_server_fixture,
)
from trading.core.history import history_read
from trading.sampledata import generate
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create
from trading.services.candle_history import (
    history_download_get,
    history_download_request,
    history_root,
)
from trading.services.market import (
    exchange_catalogue,
    market_catalogue_refresh,
    market_catalogues_refresh_all,
)

pytestmark = pytest.mark.django_db

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z


def request(tenant, **overrides):
    fields = {"exchange": "binance", "symbol": "SOL/USDT", "timeframe": "1h",
              "since": START_MS} | overrides
    return history_download_request(tenant=tenant, actor=owner_actor(tenant), **fields)


def test_a_market_only_the_exchange_lists_is_downloaded_from_it(
        world, replay_server, django_capture_on_commit_callbacks):
    served = generate("BTC/USDT", "1h", 300, seed=3, start_ms=START_MS)  # any walk
    replay_server.set_klines("SOL/USDT", "1h", served.to_rows())
    market_catalogue_refresh(exchange_id="binance")  # the exchange's list is cached

    with django_capture_on_commit_callbacks(execute=True):
        download = request(world.tenant_a)

    done = history_download_get(tenant=world.tenant_a, download_id=download.id)
    assert (done.status, done.candles) == ("done", 300), done.error
    stored = history_read(history_root(None), "binance", "SOL/USDT", "1h")
    assert stored.to_rows() == served.to_rows()


def test_a_timeframe_the_replay_does_not_resample_is_downloaded(
        world, replay_server, django_capture_on_commit_callbacks):
    weeks = generate("BTC/USDT", "1w", 20, seed=5, start_ms=START_MS)  # Mondays
    replay_server.set_klines("BTC/USDT", "1w", weeks.to_rows())
    market_catalogue_refresh(exchange_id="binance")

    with django_capture_on_commit_callbacks(execute=True):
        download = request(world.tenant_a, symbol="BTC/USDT", timeframe="1w")

    done = history_download_get(tenant=world.tenant_a, download_id=download.id)
    assert (done.status, done.candles) == ("done", 20), done.error


def test_a_market_the_exchange_does_not_list_is_refused_naming_the_symbol(
        world, replay_server):
    market_catalogue_refresh(exchange_id="binance")

    with pytest.raises(ValidationFailed) as refused:
        request(world.tenant_a, symbol="DOGE/USDT")
    assert refused.value.field == "symbol"
    assert "DOGE/USDT is not listed on binance" in refused.value.message
    assert "SOL/USDT" in refused.value.message  # it names what the exchange does list
    assert not history_root(world.tenant_a.pk).joinpath("downloads").exists()


def test_before_the_list_is_cached_the_job_records_the_exchanges_not_listed(
        world, replay_server, django_capture_on_commit_callbacks):
    replay_server.server_error_next(EXCHANGE_INFO)  # the refresh the request queued fails
    with django_capture_on_commit_callbacks(execute=True):
        download = request(world.tenant_a, symbol="DOGE/USDT")

    assert download.status == "queued"  # a well-formed market is not refused unknown
    failed = history_download_get(tenant=world.tenant_a, download_id=download.id)
    assert failed.status == "failed"
    assert failed.error.startswith("DOGE/USDT is not listed on binance")
    assert exchange_catalogue(exchange_id="binance") is not None  # the job cached the list


def test_a_bot_on_the_replay_is_still_checked_against_the_replays_markets(
        world, replay_server):
    market_catalogue_refresh(exchange_id="binance")
    actor = owner_actor(world.tenant_a)
    account = exchange_account_create(tenant=world.tenant_a, actor=actor, label="paper",
                                      exchange_id="binance")

    with pytest.raises(ValidationFailed) as refused:
        bot_create(tenant=world.tenant_a, actor=actor, name="sol", account_id=account.pk,
                   symbol="SOL/USDT", timeframe="1h", strategy="sma_cross",
                   parameters={"fast": 3, "slow": 8})
    assert refused.value.field == "symbol"
    assert "SOL/USDT" in exchange_catalogue(exchange_id="binance")


def test_the_hourly_refresh_asks_the_exchange_only_once_its_list_was_wanted(
        world, replay_server):
    exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                            label="paper", exchange_id="binance")

    assert market_catalogues_refresh_all() == 0  # an offline demo asks no exchange
    assert replay_server.request_count(EXCHANGE_INFO) == 0
    market_catalogue_refresh(exchange_id="binance")  # a download wanted it
    assert market_catalogues_refresh_all() == 1
    assert replay_server.request_count(EXCHANGE_INFO) == 2
