"""The live window is sized from the strategy's own warm-up, one fetch per feed and candle.

A strategy whose indicator needs 299 candles or more must signal live exactly as it does in
a backtest of the same candles; the shared feed is fetched once per candle for every bot on
it, sized by the largest warm-up among them and capped by the parameter bounds.
"""
from __future__ import annotations

from tests.base import owner_actor
from tests.trading.conftest import make_paper_bot
from tests.trading.markets import START_MS, SteppingMarket
from trading.core.strategies import STRATEGIES, get_strategy
from trading.engine import run_tick
from trading.exchanges.factory import set_market_source
from trading.marketdata import MAX_FEED_CANDLES, get_snapshot
from trading.models import Thought
from trading.sampledata import generate


class RecordingMarket(SteppingMarket):
    """A stepping market that remembers the `limit` of every fetch and, like Binance, serves
    at most `page_limit` candles per request."""

    def __init__(self, *args, page_limit: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits: list[int | None] = []
        self.page_limit = page_limit

    def fetch_ohlcv(self, symbol, timeframe, since_ms=None, limit=None):
        self.limits.append(limit)
        if self.page_limit is not None:
            limit = min(limit or self.page_limit, self.page_limit)
        if since_ms is None:
            return super().fetch_ohlcv(symbol, timeframe, limit=limit)
        self.fetches += 1
        end = self.cursor + 1
        start = int((self.candles.timestamp[:end] < since_ms).sum())
        return self.candles[start:min(end, start + (limit or end))].to_rows()


def _install(market: SteppingMarket) -> SteppingMarket:
    set_market_source("binance", market)
    return market


def _live_signals(bot) -> dict[int, int]:
    return {row.candle_ts: row.data["signal"]
            for row in Thought.objects.filter(bot=bot, kind=Thought.Kind.DECISION)}


def _tick_through(market, bots, candles: int) -> None:
    for _ in range(candles):
        market.step()
        for bot in bots:
            run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def _backtest_signals(market, bot, start: int, end: int) -> dict[int, int]:
    signals = get_strategy(bot.strategy).signals(market.candles[:end], bot.parameters)
    return {int(market.candles.timestamp[index]): int(signals[index])
            for index in range(start, end)}


def test_an_sma_of_299_candles_signals_live_as_in_the_backtest(world, market):
    market = _install(SteppingMarket(generate("BTC/USDT", "1m", 800, 9, START_MS), cursor=300))
    bot = make_paper_bot(world.tenant_a, parameters={"fast": 20, "slow": 299})
    _tick_through(market, [bot], 140)
    expected = _backtest_signals(market, bot, 300, 440)
    assert sum(1 for value in expected.values() if value) >= 5
    assert _live_signals(bot) == expected


def test_a_window_beyond_one_exchange_page_is_read_in_pages(world, market):
    market = _install(RecordingMarket(generate("BTC/USDT", "1m", 1700, 23, START_MS),
                                      cursor=1201, page_limit=1000))
    bot = make_paper_bot(world.tenant_a, parameters={"fast": 30, "slow": 1200})
    _tick_through(market, [bot], 99)
    expected = _backtest_signals(market, bot, 1201, 1300)
    assert [value for value in expected.values() if value] == [1, -1, 1]
    assert _live_signals(bot) == expected


def test_bots_of_different_warmups_share_one_fetch_per_candle(world, market):
    market = _install(RecordingMarket(generate("BTC/USDT", "1m", 800, 9, START_MS), cursor=300))
    small = make_paper_bot(world.tenant_a, name="small", parameters={"fast": 3, "slow": 8})
    large = make_paper_bot(world.tenant_b, name="large", parameters={"fast": 20, "slow": 299},
                           actor=owner_actor(world.tenant_b))
    _tick_through(market, [small, large], 40)
    # The first candle learns the larger need (one extra fetch); every later candle fetches
    # once, sized for the larger bot, whichever bot reads first.
    assert market.fetches <= 40 + 1
    assert len(market.limits) == market.fetches
    assert min(market.limits[2:]) >= 300
    assert _live_signals(large) == _backtest_signals(market, large, 300, 340)


def test_the_feed_window_is_capped_by_the_parameter_bounds(world, market):
    market = _install(RecordingMarket(generate("BTC/USDT", "1m", 50, 1, START_MS), cursor=40))
    get_snapshot(market, "binance", "BTC/USDT", "1m", candles=10_000_000)
    assert max(market.limits) <= MAX_FEED_CANDLES
    largest = max(strategy.longest_warmup() for strategy in STRATEGIES.values())
    assert largest >= 5000  # sma_cross allows slow up to 5000
    assert MAX_FEED_CANDLES >= largest + 1
