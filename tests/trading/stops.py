"""Helpers for stop/target tests: a bot holding a known position, candles shaped to touch.

The position comes through the engine's own path (an entry intent, the paper exchange's fill
on the next candle's open, recorded by the tick that syncs it), so what the tests check is
what a bot really holds.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tests.base import owner_actor
from trading.core.strategies import STRATEGIES
from trading.core.strategies import base as strategy_base
from trading.engine import bot_market_snapshot, forget_signal_memo, run_tick
from trading.exchanges.factory import exchange_for
from trading.models import Bot, Order, Thought
from trading.services import orders
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create

SLIPPAGE = Decimal("0.0005")  # the paper account's default
ENTRY_AMOUNT = Decimal("0.01")


def tick(bot, market, candles: int = 1) -> list:
    """Step the market `candles` times, one tick after each close."""
    outcomes = []
    for _ in range(candles):
        market.step()
        outcomes.append(run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk))
    return outcomes


def decimal(value: float) -> Decimal:
    return Decimal(str(float(value)))


def scripted_bot(world, *, name: str = "holder", stop_pct: float = 1.0,
                 target_pct: float = 2.0, preset: str = "aggressive", cooldown: int = 0):
    """A flat paper bot on the scripted strategy with a stop and target (percent), and no
    other protection in the way."""
    actor = owner_actor(world.tenant_a)
    account = exchange_account_create(tenant=world.tenant_a, actor=actor,
                                      label=f"paper-{name}", exchange_id="binance")
    return bot_create(tenant=world.tenant_a, actor=actor, name=name, account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy=Scripted.key, parameters={},
                      preset=preset, risk={"stop_loss_pct": stop_pct,
                                           "take_profit_pct": target_pct,
                                           "max_drawdown_pct": None,
                                           "daily_loss_limit_pct": None,
                                           "cooldown_candles": cooldown})


def holding_bot(world, market, **options):
    """A scripted bot whose entry of 0.01 BTC fills at the open of candle `market.cursor`
    (the one forming once this returns, shaped calm); returns (bot, entry fill price). One
    tick after that candle closes, the bot holds the position."""
    bot = scripted_bot(world, **options)
    market.step()
    decided = int(market.candles.timestamp[market.cursor - 1])
    order, _ = orders.order_intent_create(bot=bot, candle_ts=decided, action="entry",
                                          side="buy", amount=ENTRY_AMOUNT)
    orders.order_submit(bot=bot, order=order,
                        exchange=exchange_for(bot.account, bot_market_snapshot(bot).closed()))
    # The entry was decided on that candle: the bot's ticks carry on from it.
    Bot.objects.filter(pk=bot.pk).update(last_candle_ts=decided)
    bot.refresh_from_db()
    entry = decimal(market.candles.open[market.cursor]) * (1 + SLIPPAGE)
    shape_candle(market, market.cursor, open_=market.candles.open[market.cursor],
                 close=float(entry), high=float(entry) * 1.0005, low=float(entry) * 0.9995)
    return bot, entry


def shape_candle(market, index: int, *, open_=None, high=None, low=None, close=None) -> None:
    """Set some prices of candle `index`, keeping high and low around open and close."""
    candles = market.candles
    for column, value in (("open", open_), ("high", high), ("low", low), ("close", close)):
        if value is not None:
            getattr(candles, column)[index] = value
    candles.high[index] = max(candles.high[index], candles.open[index], candles.close[index])
    candles.low[index] = min(candles.low[index], candles.open[index], candles.close[index])


def calm(market, index: int, price: float) -> None:
    """Candle `index` trades within 0.05 % of `price` (touches nothing)."""
    shape_candle(market, index, open_=price, close=price, high=price * 1.0005,
                 low=price * 0.9995)


# --- A strategy whose signals the test writes, candle by candle ----------------------------

_forced: dict[int, int] = {}


class Scripted(strategy_base.Strategy):
    """Signals only where a test says so (`force_signal`); 0 everywhere else."""

    key = "scripted_stops_test"
    name = "Scripted (stop tests)"

    @classmethod
    def compute(cls, candles, params):
        return np.array([_forced.get(int(ts), 0) for ts in candles.timestamp])


@pytest.fixture
def scripted(monkeypatch):
    """Install the scripted strategy for one test."""
    monkeypatch.setitem(STRATEGIES, Scripted.key, Scripted)
    _forced.clear()
    forget_signal_memo()
    yield force_signal
    _forced.clear()
    forget_signal_memo()


def force_signal(market, index: int, signal: int) -> None:
    """Candle `index` signals `signal` when it has closed."""
    _forced[int(market.candles.timestamp[index])] = signal
    forget_signal_memo()


def assert_sold_at_the_stop_between_closes(bot, market, forming: int, entry: Decimal) -> Order:
    """The tick between closes placed the stop-loss sale on the forming candle, at the stop
    (1 % under `entry`), and said so; returns the sale."""
    sell = Order.objects.get(bot=bot, side="sell")
    assert (sell.reason, sell.candle_ts) == ("stop_loss",
                                             int(market.candles.timestamp[forming]))
    stop = entry * Decimal("0.99")
    assert abs(sell.stop_price - stop) <= stop * Decimal("1e-12")
    thought = Thought.objects.filter(bot=bot, kind="decision").latest("id")
    assert thought.summary.startswith("Newest price: Stop loss")
    return sell
