"""Live and backtest agree: the real tick path and the backtester make the same trades.

For every registered strategy and every preset, a paper bot ticks through the candles of a
stepping market one by one (trading.engine.run_ticks, paper fills, the ledger), and the
backtester runs over the same candles with the same money, fees and slippage. They must make
the same round trips: entered on the same candle at the same price, left on the same candle
for the same reason at the same price (a signal exit at the next open; a stop loss or take
profit at its level inside the candle that touched it, or at the open on a gap).

ml_signal is left out: it follows a trained model of the tenant, and training one per case
would dwarf the rest of the suite; mlmodels' tests hold its live and backtest paths equal.

The market is hourly so the presets' stops (3-10 %) and targets (6-25 %) are reached within a
few hundred candles. A day of history precedes the bot's first candle: a local strategy warms
up on it, a path-dependent one (DCA, grid) starts its walk after it, with the bot.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.base import owner_actor
from tests.trading.markets import START_MS, SteppingMarket
from trading.core import risk
from trading.core.backtest import BacktestConfig
from trading.core.backtest.fast import simulate_fast
from trading.core.strategies import STRATEGIES
from trading.core.strategies.presets import PRESETS
from trading.engine import run_ticks
from trading.exchanges.factory import set_market_source
from trading.models import Trade
from trading.sampledata import generate
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create

HISTORY = 24  # candles closed before the bot starts: warm-up for some, ignored by others
CANDLES = 160
SEED = 8  # a market in which the cases reach stops and targets as well as signals
PARAMS = {
    "sma_cross": {"fast": 3, "slow": 8},
    "rsi_reversion": {"period": 6, "oversold": 30.0, "overbought": 70.0},
    "bollinger_breakout": {"period": 10, "std_dev": 1.5},
    "dca": {"interval": 6, "safety_orders": 3, "safety_step_pct": 1.0, "take_profit_pct": 2.0},
    "grid": {"levels": 12, "range_pct": 8.0},
}
NEEDS_A_MODEL = {"ml_signal"}


def test_every_strategy_is_covered():
    assert set(PARAMS) == set(STRATEGIES) - NEEDS_A_MODEL


@dataclass(frozen=True)
class RoundTrip:
    """One trade as both sides report it: candles as timestamps, prices as floats."""

    entry_ts: int
    exit_ts: int | None  # None: still open after the last candle
    reason: str
    entry_price: float
    exit_price: float | None
    amount: float
    entries: int = 0  # buys in the round trip (the backtest counts them)


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.astimezone(UTC).timestamp() * 1000)


def live_trips(bot) -> list[RoundTrip]:
    reasons = {"exit": "signal"}  # a strategy exit is "exit" on a live order
    return [RoundTrip(_ms(trade.entry_time), _ms(trade.exit_time),
                      reasons.get(trade.exit_reason, trade.exit_reason),
                      float(trade.entry_price),
                      float(trade.exit_price) if trade.exit_price is not None else None,
                      float(trade.amount))
            for trade in Trade.objects.filter(bot=bot).order_by("entry_time")]


def backtest_trips(market: SteppingMarket, config: BacktestConfig, start: int,
                   end: int) -> list[RoundTrip]:
    """The backtest of a bot that started on candle `start`: a local strategy warmed up on
    the candles before it, a path-dependent one walking from it; trading from `start` on."""
    resolved = config.resolve()
    candles = market.candles[:end]
    if resolved.strategy.path_dependent:
        signals = resolved.strategy.signals(candles[start:], resolved.params)
    else:
        signals = resolved.strategy.signals(candles, resolved.params)[start:]
    trades = simulate_fast(candles[start:], signals, resolved.simulation()).trades
    stamps = candles.timestamp[start:]
    return [RoundTrip(int(stamps[trades.entry_index[row]]),
                      None if trades.is_open[row] else int(stamps[trades.exit_index[row]]),
                      risk.EXIT_REASONS.get(int(trades.reason[row]), ""),
                      float(trades.entry_price[row]),
                      None if trades.is_open[row] else float(trades.exit_price[row]),
                      float(trades.units[row]), int(trades.entries[row]))
            for row in range(len(trades))]


def assert_same_trips(live: list[RoundTrip], backtest: list[RoundTrip]) -> None:
    """Same candles and reasons, exactly; the same prices and amounts.

    A live order's amount is cut to the 8 decimals an exchange takes (AMOUNT_STEP), so each
    buy may hold up to 1e-8 less than the backtest's unrounded one. One buy's price is then
    the same price (1e-9 relative: float against Decimal); the average of several buys (and
    a stop or target drawn from it) moves by less than 1e-6 relative, while a buy on another
    candle or at another level would be off by far more.
    """
    assert [(t.entry_ts, t.exit_ts, t.reason) for t in live] == \
        [(t.entry_ts, t.exit_ts, t.reason) for t in backtest]
    for ours, theirs in zip(live, backtest, strict=True):
        averaged = 1e-9 if theirs.entries == 1 else 1e-6
        assert ours.entry_price == pytest.approx(theirs.entry_price, rel=averaged), ours
        assert -1e-12 <= theirs.amount - ours.amount <= theirs.entries * 1e-8 + 1e-12, ours
        if theirs.exit_price is not None:
            exact = 1e-9 if theirs.reason in ("signal", "max_drawdown") else averaged
            assert ours.exit_price == pytest.approx(theirs.exit_price, rel=exact), ours


def _market() -> SteppingMarket:
    return SteppingMarket(generate("BTC/USDT", "1h", HISTORY + CANDLES + 2, SEED, START_MS),
                          timeframe="1h", cursor=HISTORY)


@pytest.fixture
def hourly_market(market):
    """An hourly market with HISTORY closed candles; the bot decides first on the next."""
    hourly = _market()
    set_market_source("binance", hourly)
    return hourly


def _bot(tenant, strategy: str, preset: str):
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label="paper",
                                      exchange_id="binance")
    bot = bot_create(tenant=tenant, actor=actor, name=f"{strategy}-{preset}",
                     account_id=account.pk, symbol="BTC/USDT", timeframe="1h",
                     strategy=strategy, parameters=PARAMS[strategy], preset=preset,
                     capital=Decimal("1000"))
    config = BacktestConfig(strategy=strategy, params=PARAMS[strategy], preset=preset,
                            cash=float(bot.capital), fee=float(account.taker_fee),
                            slippage=float(account.slippage))
    return bot, config


def test_the_cases_reach_stops_and_targets():
    """The market is one where SL/TP parity is exercised, not only signal exits."""
    reasons = {trip.reason for strategy in PARAMS for preset in PRESETS
               for trip in backtest_trips(_market(), BacktestConfig(
                   strategy=strategy, params=PARAMS[strategy], preset=preset, cash=1000,
                   fee=0.001, slippage=0.0005), HISTORY, HISTORY + CANDLES)}
    assert {"signal", "stop_loss", "take_profit"} <= reasons


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("strategy", sorted(PARAMS))
def test_live_ticks_make_the_backtests_trades(world, hourly_market, strategy, preset):
    bot, config = _bot(world.tenant_a, strategy, preset)
    for _ in range(CANDLES):
        hourly_market.step()
        run_ticks(tenant_id=bot.tenant_id, bot_ids=[bot.pk])
    expected = backtest_trips(hourly_market, config, HISTORY, hourly_market.cursor)
    assert len(expected) >= 2, "the case should trade"
    assert_same_trips(live_trips(bot), expected)
