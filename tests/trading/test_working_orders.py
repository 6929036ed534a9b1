"""One working order per bot and side: while an order is still filling the engine follows,
cancels or waits for it, and never places a second one that could oversell.

Driven through the real tick path on the paper exchange, whose market orders fill at most
`max_volume_fraction` of a candle's volume, so a large order keeps filling for many candles.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.plans import Plan
from tests.base import owner_actor
from tests.trading.markets import SteppingMarket
from trading import selectors
from trading.core.strategies import STRATEGIES
from trading.core.strategies import base as strategy_base
from trading.engine import forget_signal_memo, run_tick
from trading.exchanges.factory import exchange_for, reset_market_sources, set_market_source
from trading.marketdata import forget_local_memo
from trading.models import Fill, Order, PaperBalance, Position, Thought
from trading.services import orders
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create

BIG = Decimal("2000000")


def _big_bot(tenant, *, name="whale", strategy="sma_cross", parameters=None, capital=BIG):
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"paper-{name}",
                                      exchange_id="binance", paper_starting_balance=capital)
    return bot_create(tenant=tenant, actor=actor, name=name, account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy=strategy,
                      parameters={"fast": 3, "slow": 8} if parameters is None else parameters,
                      preset="aggressive",
                      risk={"stop_loss_pct": None, "take_profit_pct": None,
                            "max_drawdown_pct": None, "daily_loss_limit_pct": None},
                      capital=capital)


def _tick(bot, market, candles: int = 1) -> None:
    for _ in range(candles):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def _net_fills(bot) -> Decimal:
    """Σ unique fills, buys minus sells, net of fees charged in the base currency."""
    total = Decimal(0)
    for fill in Fill.objects.filter(bot=bot):
        base_fee = fill.fee if fill.fee_currency == bot.base_currency else Decimal(0)
        total += (fill.amount - base_fee) if fill.side == "buy" else -fill.amount
    return total


def _position(bot) -> Decimal:
    position = Position.objects.filter(bot=bot).first()
    return position.amount if position else Decimal(0)


def _balances(bot) -> dict[str, Decimal]:
    return {row.currency: row.free for row in PaperBalance.objects.filter(account=bot.account)}


def assert_ledger_sound(bot) -> None:
    """The invariants a customer's money relies on, whatever happened before."""
    assert _position(bot) == _net_fills(bot)
    assert _position(bot) >= 0
    assert all(free >= 0 for free in _balances(bot).values()), _balances(bot)
    sold = Fill.objects.filter(bot=bot, side="sell").aggregate(s=Sum("amount"))["s"] or 0
    bought = Fill.objects.filter(bot=bot, side="buy").aggregate(s=Sum("amount"))["s"] or 0
    assert sold <= bought
    working = selectors.order_pending_for_bot(bot=bot)
    for side in ("buy", "sell"):
        assert working.filter(side=side).count() <= 1, list(working)
    selling = working.filter(side="sell").first()
    if selling is not None:
        assert selling.amount - selling.filled <= _position(bot)


# --- The reported case: a 2,000,000 USDT bot on thin candles ------------------------------


def test_a_large_bot_never_oversells_while_its_orders_fill_for_many_candles(world, market):
    bot = _big_bot(world.tenant_a)
    for _ in range(400):
        _tick(bot, market)
        assert_ledger_sound(bot)
    slow = Order.objects.filter(bot=bot).exclude(status="intent")
    assert slow.filter(side="buy").exists() and slow.filter(side="sell").exists()
    # The market orders really did fill over many candles (the case that oversold).
    assert max(Fill.objects.filter(order=o).count() for o in slow) > 10
    assert not Order.objects.filter(bot=bot, status="rejected").exists()


def _scripted_bot(tenant):
    return _big_bot(tenant, name="scripted", strategy=Scripted.key, parameters={})


def _enter(bot, market) -> Order:
    _force_signal(market, 1)
    _tick(bot, market)
    return Order.objects.get(bot=bot, side="buy")


def test_an_exit_while_the_entry_is_still_filling_cancels_the_rest_and_sells_what_filled(
        world, market):
    bot = _scripted_bot(world.tenant_a)
    entry = _enter(bot, market)
    _tick(bot, market, 2)
    entry.refresh_from_db()
    assert entry.status == "open" and 0 < entry.filled < entry.amount
    _force_signal(market, -1)
    _tick(bot, market)
    entry.refresh_from_db()
    assert entry.status == "canceled"
    exit_order = Order.objects.get(bot=bot, side="sell")
    assert exit_order.amount == entry.filled
    assert Thought.objects.filter(bot=bot, summary__icontains="canceled the rest").exists()
    frozen = entry.filled
    _tick(bot, market, 5)
    entry.refresh_from_db()
    assert entry.filled == frozen  # a canceled order does not keep filling
    assert_ledger_sound(bot)


def test_an_exit_already_working_is_not_doubled(world, market):
    bot = _scripted_bot(world.tenant_a)
    _enter(bot, market)
    _tick(bot, market, 3)
    _force_signal(market, -1)
    _tick(bot, market)
    _force_signal(market, -1)
    _tick(bot, market)
    assert Order.objects.filter(bot=bot, side="sell").count() == 1
    assert Thought.objects.filter(bot=bot, summary__icontains="already working").exists()
    assert_ledger_sound(bot)


def test_an_entry_signal_while_the_entry_is_filling_follows_it(world, market):
    bot = _scripted_bot(world.tenant_a)
    _enter(bot, market)
    for _ in range(3):
        _force_signal(market, 1)
        _tick(bot, market)
    assert Order.objects.filter(bot=bot, side="buy").count() == 1
    assert_ledger_sound(bot)


def test_an_entry_signal_while_an_exit_is_filling_waits_for_it(world, market):
    bot = _scripted_bot(world.tenant_a)
    _enter(bot, market)
    _tick(bot, market, 3)
    _force_signal(market, -1)
    _tick(bot, market)
    _force_signal(market, 1)
    _tick(bot, market)
    assert Order.objects.filter(bot=bot, side="buy").count() == 1
    assert_ledger_sound(bot)


# --- Property: whatever fills, cancels and signals arrive, the ledger stays sound ---------

steps = st.lists(st.one_of(
    st.tuples(st.just("signal"), st.sampled_from([1, -1, 0])),
    st.tuples(st.just("cancel"), st.sampled_from(["buy", "sell"])),
    st.tuples(st.just("resync"), st.just(0)),
    st.tuples(st.just("resync"), st.just(0)),
    st.tuples(st.just("wait"), st.integers(1, 4)),
), min_size=1, max_size=18)
_examples = iter(range(10**6))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(capital=st.sampled_from([Decimal("500"), Decimal("200000"), BIG]),
       thin=st.sampled_from(["1", "0.1", "0.01"]), script=steps)
def test_any_fills_cancels_and_signals_keep_the_ledger_sound(world, capital, thin, script):
    market = _thin_market(Decimal(thin))
    world.tenant_a.plan = Plan.ENTERPRISE  # one bot per example, no bot-count limit
    bot = _big_bot(world.tenant_a, name=f"p{next(_examples)}", strategy=Scripted.key,
                   parameters={}, capital=capital)
    final: dict[int, Decimal] = {}  # a final order's fills never change afterwards
    for action, value in script:
        if action == "signal":
            _force_signal(market, value)
            _tick(bot, market)
        elif action == "cancel":
            _cancel_working(bot, market, value)
        elif action == "resync":
            _resync(bot, market)
        else:
            _tick(bot, market, value)
        assert_ledger_sound(bot)
        assert _balances(bot).get(bot.base_currency, Decimal(0)) == _position(bot)
        for order in Order.objects.filter(bot=bot, status__in=["closed", "canceled"]):
            assert final.setdefault(order.pk, order.filled) == order.filled, order


def _thin_market(factor: Decimal) -> SteppingMarket:
    """A fresh market whose candles carry `factor` of the sample's volume."""
    forget_local_memo()
    market = SteppingMarket.sample()
    market.candles.volume[:] = market.candles.volume * float(factor)
    set_market_source("binance", market)
    return market


def _exchange(bot, market):
    return exchange_for(bot.account, market.candles[:market.cursor])


def _cancel_working(bot, market, side: str) -> None:
    for order in selectors.order_pending_for_bot(bot=bot).filter(side=side):
        orders.order_cancel(bot=bot, order=order, exchange=_exchange(bot, market))


def _resync(bot, market) -> None:
    """A retried sync of every order (a redelivered task): fills already booked stay once."""
    for order in Order.objects.filter(bot=bot).exclude(status__in=["intent", "rejected"]):
        orders.order_sync(bot=bot, order=order, exchange=_exchange(bot, market))


# --- Helpers: steering the strategy's signal candle by candle ---------------------------

_forced: dict[int, int] = {}


class Scripted(strategy_base.Strategy):
    """A strategy whose signal at each candle the test writes (0 elsewhere)."""

    key = "scripted_test"
    name = "Scripted (tests)"
    max_entries = 3

    @classmethod
    def compute(cls, candles, params):
        return np.array([_forced.get(int(ts), 0) for ts in candles.timestamp])


@pytest.fixture(autouse=True)
def _scripted_strategy(monkeypatch):
    monkeypatch.setitem(STRATEGIES, Scripted.key, Scripted)
    _forced.clear()
    forget_signal_memo()
    yield
    _forced.clear()
    reset_market_sources()
    forget_local_memo()


def _force_signal(market, signal: int) -> None:
    """The candle that closes at the next step signals `signal`."""
    _forced[int(market.candles.timestamp[market.cursor])] = signal
    forget_signal_memo()


def _tick_until(bot, market, found, limit: int = 300):
    for _ in range(limit):
        _tick(bot, market)
        value = found()
        if value:
            return value
    raise AssertionError("the condition never came true")
