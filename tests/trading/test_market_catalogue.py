"""The market catalogue: which markets and timeframes a bot can choose. A replay offers its
files and the timeframes resampled from them; an exchange offers its own markets, loaded once
through the real ccxt client (from the Binance stand-in), cached for every tenant and
refreshed by a task. A bot on a market without data is refused before it exists."""
from __future__ import annotations

import pytest

from aitrader.errors import ValidationFailed
from tests.base import owner_actor
from trading.exchanges.factory import (
    WallClockSource,
    replayed_data_refusal,
    reset_market_sources,
    set_market_source,
)
from trading.exchanges.replay import replay_source_for
from trading.marketdata import forget_local_memo
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create, bot_update
from trading.services.market import (
    market_catalogue,
    market_catalogue_refresh,
    market_catalogues_refresh_all,
)
from trading.tasks import refresh_market_catalogues

pytestmark = pytest.mark.django_db
EXCHANGE_INFO = "/api/v3/exchangeInfo"


@pytest.fixture
def replaying(tmp_path):
    """This server replays the sample files (BTC/USDT and ETH/USDT in 1m and 1h)."""
    forget_local_memo()
    source = replay_source_for(tmp_path, speed=None, start_index=3000)
    set_market_source("binance", source)
    yield source
    reset_market_sources()
    forget_local_memo()


def _paper_account(tenant):
    return exchange_account_create(tenant=tenant, actor=owner_actor(tenant), label="paper",
                                   exchange_id="binance")


def _bot(tenant, account, *, symbol="BTC/USDT", timeframe="1m", name="catalogued"):
    return bot_create(tenant=tenant, actor=owner_actor(tenant), name=name,
                      account_id=account.pk, symbol=symbol, timeframe=timeframe,
                      strategy="sma_cross", parameters={"fast": 3, "slow": 8})


def test_a_replay_offers_its_files_and_the_timeframes_resampled_from_them(replaying):
    catalogue = market_catalogue(exchange_id="binance")

    assert set(catalogue) == {"BTC/USDT", "ETH/USDT"}
    assert {"1m", "5m", "15m", "1h", "4h", "1d"} <= set(catalogue["BTC/USDT"])
    assert "1w" not in catalogue["BTC/USDT"]


def test_a_replayed_4h_candle_is_the_merge_of_its_four_hours(replaying):
    closed = replaying.fetch_ohlcv("BTC/USDT", "4h", limit=6)[:-1]  # the last is forming
    hours = replaying.fetch_ohlcv("BTC/USDT", "1h", since_ms=closed[0][0], limit=4 * 5)

    assert len(closed) == 5
    for index, (timestamp, open_, high, low, close, volume) in enumerate(closed):
        four = hours[4 * index:4 * index + 4]
        assert timestamp % (4 * 3_600_000) == 0 and four[0][0] == timestamp
        assert open_ == four[0][1] and close == four[-1][4]
        assert high == max(row[2] for row in four) and low == min(row[3] for row in four)
        assert volume == pytest.approx(sum(row[5] for row in four))


def test_a_bot_on_a_resampled_timeframe_is_created(world, replaying):
    bot = _bot(world.tenant_a, _paper_account(world.tenant_a), timeframe="4h")
    assert (bot.symbol, bot.timeframe) == ("BTC/USDT", "4h")


@pytest.mark.parametrize("symbol, timeframe, field, offered", [
    ("SOL/USDT", "1m", "symbol", "choose one of BTC/USDT, ETH/USDT"),  # no such market
    ("BTC/USDT", "1w", "timeframe", "choose one of 1m, 3m, 5m"),  # weeks are not resampled
])
def test_a_bot_on_a_market_without_data_is_refused_naming_the_field(world, replaying, symbol,
                                                                     timeframe, field, offered):
    with pytest.raises(ValidationFailed) as refused:
        _bot(world.tenant_a, _paper_account(world.tenant_a), symbol=symbol,
             timeframe=timeframe)
    assert refused.value.field == field
    assert offered in refused.value.message


def test_moving_a_bot_to_a_market_without_data_is_refused(world, replaying):
    bot = _bot(world.tenant_a, _paper_account(world.tenant_a))
    with pytest.raises(ValidationFailed) as refused:
        bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=bot.pk,
                   symbol="DOGE/USDT")
    assert refused.value.field == "symbol"
    bot.refresh_from_db()
    assert bot.symbol == "BTC/USDT"


def test_an_exchanges_markets_load_once_and_are_shared(exchange_markets):
    first = market_catalogue(exchange_id="binance")
    again = market_catalogue(exchange_id="binance")

    assert set(first) == {"BTC/USDT", "ETH/USDT"}
    assert {"1m", "1h", "1d", "1w"} <= set(first["BTC/USDT"])  # binance publishes weeks
    assert again == first
    assert exchange_markets.request_count(EXCHANGE_INFO) == 1


def test_the_refresh_task_asks_the_exchange_of_every_account(world, exchange_markets):
    _paper_account(world.tenant_a)
    market_catalogue(exchange_id="binance")

    assert refresh_market_catalogues() == 1
    assert market_catalogues_refresh_all() == 1
    assert exchange_markets.request_count(EXCHANGE_INFO) >= 2  # asked again, not cached


def test_an_exchange_that_does_not_answer_keeps_the_last_catalogue(exchange_markets):
    known = market_catalogue(exchange_id="binance")
    reset_market_sources()  # a fresh client: its markets must be loaded again
    set_market_source("binance", WallClockSource("binance"))
    exchange_markets.server_error_next(EXCHANGE_INFO, times=20)

    assert market_catalogue_refresh(exchange_id="binance") is None
    assert market_catalogue(exchange_id="binance") == known


def test_without_a_catalogue_a_bot_is_not_refused(world, exchange_markets):
    exchange_markets.server_error_next(EXCHANGE_INFO, times=20)
    bot = _bot(world.tenant_a, _paper_account(world.tenant_a))  # the feed's breakers judge it
    assert bot.pk


def test_an_exchange_that_is_down_is_asked_once_a_minute_not_on_every_page(exchange_markets):
    exchange_markets.server_error_next(EXCHANGE_INFO, times=50)
    assert market_catalogue(exchange_id="binance") is None
    asked = exchange_markets.request_count(EXCHANGE_INFO)

    for _ in range(5):  # five pages offering the exchange's markets
        assert market_catalogue(exchange_id="binance") is None
    assert exchange_markets.request_count(EXCHANGE_INFO) == asked >= 1


def test_until_a_feed_is_built_the_settings_say_whether_it_replays(settings):
    reset_market_sources()
    settings.AITRADER_MARKET_DATA_SOURCE = "exchange"
    assert replayed_data_refusal("kraken") is None
    settings.AITRADER_MARKET_DATA_SOURCE = "replay"
    assert "replays sample candles" in replayed_data_refusal("kraken")
