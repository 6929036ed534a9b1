"""Lot size, minimum amount and minimum value are checked before an order is sent, market
orders included, in one place for live and paper: a skipped order is never sent, says why in a
Thought, and is no exchange error."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET, binance_markets
from trading.engine import run_tick
from trading.exchanges import limits
from trading.exchanges.limits import MarketRules, order_limits_refusal
from trading.models import Bot, Order, Thought
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create
from trading.services.credentials import exchange_credentials_save
from trading.signals import order_failed

ORDER_PATH = "/api/v3/order"


def _bot(tenant, *, mode="paper", capital="2.5"):
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"{mode}-small",
                                      exchange_id="binance", mode=mode)
    if mode == "live":
        exchange_credentials_save(tenant=tenant, actor=actor, account_id=account.pk,
                                  api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET,
                                  password=PASSWORD)
    return bot_create(tenant=tenant, actor=actor, name="small", account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                      parameters={"fast": 3, "slow": 8}, preset="aggressive",
                      capital=Decimal(capital))


def _tick_until_an_order(bot, market, limit: int = 300) -> Order:
    for _ in range(limit):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
        order = Order.objects.filter(bot=bot).first()
        if order is not None:
            return order
    raise AssertionError("the bot never decided to order")


@pytest.fixture
def alerts():
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    order_failed.connect(receiver, weak=False)
    yield received
    order_failed.disconnect(receiver)


def _assert_skipped_quietly(bot, order, alerts) -> None:
    assert order.status == Order.Status.SKIPPED
    thought = Thought.objects.get(bot=bot, kind=Thought.Kind.ORDER)
    assert re.fullmatch(r"Order skipped: value 2\.\d\d USDT is below the exchange minimum "
                        r"of 5 USDT\.", thought.summary), thought.summary
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.exchange_errors == 0 and bot.status == Bot.Status.RUNNING
    assert alerts == []


def test_a_paper_market_order_below_the_minimum_value_is_skipped_with_a_thought(
        world, market, alerts):
    bot = _bot(world.tenant_a)
    order = _tick_until_an_order(bot, market)
    assert order.sent_at is None and order.expected_price is not None
    _assert_skipped_quietly(bot, order, alerts)


def test_a_live_market_order_below_the_minimum_value_never_reaches_the_exchange(
        world, market, stand_in, alerts):
    bot = _bot(world.tenant_a, mode="live")
    order = _tick_until_an_order(bot, market)
    assert stand_in.request_count(ORDER_PATH, method="POST") == 0
    _assert_skipped_quietly(bot, order, alerts)


def test_an_order_above_the_minimum_is_sent(world, market):
    bot = _bot(world.tenant_a, capital="1000")
    order = _tick_until_an_order(bot, market)
    assert order.status in (Order.Status.OPEN, Order.Status.CLOSED)
    assert not Thought.objects.filter(bot=bot, kind=Thought.Kind.ORDER).exists()


# --- The rule itself ----------------------------------------------------------------------

BTC = MarketRules(symbol="BTC/USDT", amount_step=Decimal("0.00001"),
                  min_amount=Decimal("0.0001"), max_amount=Decimal("9000"),
                  min_value=Decimal("5"), max_value=Decimal("9000000"))


@pytest.mark.parametrize(("amount", "price", "why"), [
    ("0.000009", "50000", "amount 0.000009 BTC is below the exchange's lot size of 0.00001 BTC"),
    ("0.00005", "50000", "amount 0.00005 BTC is below the exchange minimum of 0.0001 BTC"),
    ("9001", "1", "amount 9001 BTC is above the exchange maximum of 9000 BTC"),
    ("0.0001", "25000", "value 2.50 USDT is below the exchange minimum of 5 USDT"),
    # the value is that of the amount the exchange takes (rounded down to the lot size)
    ("0.000199", "25100", "value 4.77 USDT is below the exchange minimum of 5 USDT"),
    ("0.0002", "25000", None),
    ("0.0002", None, None),  # without a price only the amount can be checked
])
def test_it_names_the_rule_an_order_breaks(amount, price, why):
    refusal = order_limits_refusal(BTC, amount=Decimal(amount),
                                   price=Decimal(price) if price else None)
    assert refusal == why


def test_ccxt_limits_become_rules():
    market = next(m for m in binance_markets() if m["symbol"] == "BTC/USDT")
    rules = MarketRules.from_ccxt(market, Decimal("0.00001"))
    assert rules.min_value == Decimal(str(market["limits"]["cost"]["min"]))


def test_paper_follows_the_real_market_where_this_process_loaded_it(world, market, monkeypatch):
    monkeypatch.setattr(limits, "_known", {})
    assert limits.known_market_rules("binance", "BTC/USDT").min_value == Decimal("5")
    assert limits.known_market_rules("binance", "ETH/BTC").min_value == Decimal("0.0001")
    limits.remember_market_rules("binance", [MarketRules(symbol="BTC/USDT",
                                                         min_value=Decimal("10"))])
    assert limits.known_market_rules("binance", "BTC/USDT").min_value == Decimal("10")
