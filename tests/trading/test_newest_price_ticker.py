"""Between candle closes the stop and target are held against the feed's newest price (the
market source's ticker), fetched once per tick interval per (exchange, symbol) for every bot
of every tenant; a source without a ticker, or a failing one, falls back to the forming
candle of the shared snapshot and never fails the tick.
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings

from tenants.models import Tenant
from tenants.plans import Plan
from tests.base import owner_actor
from tests.trading.markets import SteppingMarket
from tests.trading.stops import (
    ENTRY_AMOUNT,
    SLIPPAGE,
    Scripted,
    assert_sold_at_the_stop_between_closes,
    calm,
    holding_bot,
    scripted,  # noqa: F401 (the fixture the tests below use)
    shape_candle,
    tick,
)
from trading.engine import bot_market_snapshot, forget_signal_memo, run_tick, run_ticks
from trading.exchanges.base import TemporaryExchangeError, Ticker
from trading.exchanges.factory import (
    WallClockSource,
    exchange_for,
    reset_market_sources,
    set_market_source,
)
from trading.marketdata import forget_local_memo, get_newest_price
from trading.models import Bot, Fill, Order, Position
from trading.sampledata import generate
from trading.services import orders
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create

pytestmark = pytest.mark.usefixtures("scripted")

START_MS = 1_700_000_040_000 - 1_700_000_040_000 % 86_400_000


class LiveLikeMarket(SteppingMarket):
    """A feed on the wall clock (moved by time-machine, never by sleeping), serving the candle
    still forming as an exchange does at the period's first fetch (its open only), with a
    ticker whose price the test moves and whose fetches it counts."""

    def __init__(self, candles, clock) -> None:
        super().__init__(candles)
        self.clock = clock
        self.price: Decimal | None = None  # None: the forming candle's open
        self.ticker_fetches = 0
        self.ticker_fails = False
        self.at(0.001)

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def at(self, seconds: float) -> None:
        """Move the clock `seconds` into the forming candle."""
        start = int(self.candles.timestamp[self.cursor])
        self.clock.move_to(datetime.fromtimestamp(start / 1000 + seconds, UTC), tick=False)

    def step(self, candles: int = 1) -> None:
        super().step(candles)
        self.at(0.001)

    def fetch_ohlcv(self, symbol, timeframe, since_ms=None, limit=None):
        rows = super().fetch_ohlcv(symbol, timeframe, since_ms=since_ms, limit=limit)
        if rows and rows[-1][0] == int(self.candles.timestamp[self.cursor]):
            open_ = rows[-1][1]
            rows[-1] = [rows[-1][0], open_, open_, open_, open_, 0.0]
        return rows

    def fetch_ticker(self, symbol: str) -> Ticker:
        self.ticker_fetches += 1
        if self.ticker_fails:
            raise TemporaryExchangeError("ticker unavailable")
        last = self.price or Decimal(repr(float(self.candles.open[self.cursor])))
        return Ticker(symbol=symbol, last=last, bid=None, ask=None, timestamp_ms=self.now_ms())


@pytest.fixture
def live_market(time_machine):
    forget_local_memo()
    forget_signal_memo()
    market = LiveLikeMarket(generate("BTC/USDT", "1m", 600, 7, START_MS), time_machine)
    set_market_source("binance", market)
    yield market
    reset_market_sources()
    forget_local_memo()


TICK_SECONDS = settings.AITRADER_ENGINE_TICK_SECONDS


def _held_through_the_entry_candle(world, market):
    """A bot holding 0.01 BTC, the candle after its entry now forming (open only so far);
    (bot, entry price, forming index)."""
    bot, entry = holding_bot(world, market)
    forming = market.cursor + 1
    calm(market, forming, float(entry))
    tick(bot, market)
    assert Position.objects.get(bot=bot).amount == ENTRY_AMOUNT
    return bot, entry, forming


def test_a_ticker_moving_through_the_stop_mid_candle_sells_on_the_next_tick(world,
                                                                           live_market):
    market = live_market
    bot, entry, forming = _held_through_the_entry_candle(world, market)
    market.at(0.5)
    assert run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status == "idle"
    # The price falls 2 % (through the 1 % stop) after the period's candles were fetched;
    # the candle as it will close shows the dip too.
    dip = entry * Decimal("0.98")
    market.price = dip
    shape_candle(market, forming, low=float(dip), close=float(dip))
    market.at(0.5 + TICK_SECONDS)

    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)

    assert outcome.status == "ticked"
    sell = assert_sold_at_the_stop_between_closes(bot, market, forming, entry)
    stop = entry * Decimal("0.99")
    tick(bot, market)  # the candle closes: the sale fills on it, at the stop
    fill = Fill.objects.get(order=sell)
    assert abs(fill.price - stop * (1 - SLIPPAGE)) <= stop * Decimal("1e-12")
    assert Position.objects.get(bot=bot).amount == 0


def test_a_price_within_the_stop_and_target_places_nothing(world, live_market):
    market = live_market
    bot, entry, _forming = _held_through_the_entry_candle(world, market)
    market.price = entry * Decimal("1.005")  # inside the 1 % stop and 2 % target
    market.at(0.5)
    assert run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status == "idle"
    assert not Order.objects.filter(bot=bot, side="sell").exists()


def _scripted_holders(world, market, per_tenant: int) -> list[Bot]:
    """`per_tenant` scripted bots in each of two tenants, each holding 0.01 BTC after the
    next tick, with a 1 % stop and 2 % target."""
    bots = []
    for tenant in (world.tenant_a, world.tenant_b):
        Tenant.objects.filter(pk=tenant.pk).update(plan=Plan.ENTERPRISE)
        tenant.refresh_from_db()
        actor = owner_actor(tenant)
        for i in range(per_tenant):
            account = exchange_account_create(tenant=tenant, actor=actor, label=f"paper-{i}",
                                              exchange_id="binance")
            bots.append(bot_create(
                tenant=tenant, actor=actor, name=f"holder-{i}", account_id=account.pk,
                symbol="BTC/USDT", timeframe="1m", strategy=Scripted.key, parameters={},
                preset="aggressive", risk={"stop_loss_pct": 1.0, "take_profit_pct": 2.0,
                                           "max_drawdown_pct": None,
                                           "daily_loss_limit_pct": None,
                                           "cooldown_candles": 0}))
    market.step()
    decided = int(market.candles.timestamp[market.cursor - 1])
    for bot in bots:
        order, _ = orders.order_intent_create(bot=bot, candle_ts=decided, action="entry",
                                              side="buy", amount=ENTRY_AMOUNT)
        orders.order_submit(bot=bot, order=order, exchange=exchange_for(
            bot.account, bot_market_snapshot(bot).closed()))
    Bot.objects.filter(pk__in=[bot.pk for bot in bots]).update(last_candle_ts=decided)
    calm(market, market.cursor, float(market.candles.open[market.cursor]))
    calm(market, market.cursor + 1, float(market.candles.open[market.cursor]))
    market.step()
    _tick_all(bots)
    assert all(p.amount == ENTRY_AMOUNT for p in Position.objects.filter(bot__in=bots))
    return bots


def _tick_all(bots: list[Bot]) -> list[str]:
    statuses = []
    for tenant_id in sorted({bot.tenant_id for bot in bots}):
        statuses += [outcome.status for outcome in run_ticks(
            tenant_id=tenant_id, bot_ids=[bot.pk for bot in bots if bot.tenant_id == tenant_id])]
    return statuses


def test_every_bot_of_every_tenant_on_a_feed_shares_one_ticker_fetch_per_interval(
        world, live_market):
    market = live_market
    bots = _scripted_holders(world, market, per_tenant=3)
    assert market.ticker_fetches == 0  # a candle close reads no ticker

    market.at(0.2)  # intervals are aligned to the clock, as is the candle's start
    assert _tick_all(bots) == ["idle"] * 6
    assert market.ticker_fetches == 1
    market.at(0.2 + TICK_SECONDS * 0.75)  # the same interval
    forget_local_memo()  # as another worker process would: only the shared cache is left
    assert _tick_all(bots) == ["idle"] * 6
    assert market.ticker_fetches == 1
    market.at(0.2 + TICK_SECONDS * 1.25)  # the next interval
    assert _tick_all(bots) == ["idle"] * 6
    assert market.ticker_fetches == 2


def test_a_failing_ticker_falls_back_to_the_forming_candle_and_logs_once_per_interval(
        world, live_market, caplog):
    market = live_market
    bots = _scripted_holders(world, market, per_tenant=2)
    market.ticker_fails = True
    market.at(0.2)
    with caplog.at_level(logging.WARNING, logger="trading.marketdata"):
        assert _tick_all(bots) == ["idle"] * 4
        market.at(0.2 + TICK_SECONDS * 0.75)
        assert _tick_all(bots) == ["idle"] * 4
    assert market.ticker_fetches == 1
    assert len([r for r in caplog.records if "ticker unavailable" in r.getMessage()]) == 1
    assert all(bot.exchange_errors == 0 for bot in Bot.objects.filter(pk__in=[b.pk
                                                                            for b in bots]))


def test_a_source_without_a_ticker_holds_the_stop_against_the_forming_candle(world, market):
    assert not hasattr(market, "fetch_ticker")
    bot, entry = holding_bot(world, market)
    forming = market.cursor + 1
    shape_candle(market, forming, open_=float(entry), low=float(entry) * 0.98,
                 close=float(entry) * 0.985, high=float(entry) * 1.0005)
    tick(bot, market)

    outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)

    assert outcome.status == "ticked"
    assert Order.objects.get(bot=bot, side="sell").reason == "stop_loss"


def test_the_live_market_source_reads_the_exchange_ticker_once_per_interval(stand_in,
                                                                           time_machine):
    stand_in.set_price("BTC/USDT", "43210.5")
    source = WallClockSource("binance")
    # One interval, whatever the wall clock says (the engine tests above step through several).
    time_machine.move_to(datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC), tick=False)
    reads = [get_newest_price(source, "binance", "BTC/USDT", interval_ms=3_600_000)
             for _ in range(3)]
    assert reads[0] is not None and reads[0].price == Decimal("43210.5")
    assert reads[1:] == reads[:1] * 2
    assert stand_in.request_count("/api/v3/ticker/24hr") == 1
