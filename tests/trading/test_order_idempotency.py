"""Orders never double: a crash or lost answer at any step of placement converges on
exactly one exchange order, driven through the real ccxt client against the stand-in."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.base import owner_actor
from trading import selectors
from trading.exchanges.base import OrderRequest, TradeFill
from trading.models import Bot, ExchangeAccount, Fill, Order, Position
from trading.services import orders
from trading.services.accounts import exchange_account_create
from trading.services.ledger import fill_record

CANDLE = 1_700_000_040_000
AMOUNT = Decimal("0.01")


@pytest.fixture
def live_bot(world) -> Bot:
    tenant = world.tenant_a
    account = exchange_account_create(tenant=tenant, actor=owner_actor(tenant), label="live",
                                      exchange_id="binance", mode="live")
    ExchangeAccount.objects.filter(pk=account.pk).update(credential_ref="stand-in")
    return Bot.objects.create(tenant=tenant, name="live", account=account, symbol="BTC/USDT",
                              timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 3, "slow": 8})


def _intent(bot: Bot, action: str = "entry") -> Order:
    order, _ = orders.order_intent_create(bot=bot, candle_ts=CANDLE, action=action, side="buy",
                                          amount=AMOUNT)
    return order


def _exchange_orders(fake, order: Order) -> list:
    return fake.orders_with_client_id(order.client_order_id)


def test_a_crash_after_the_intent_commit_sends_exactly_once_on_restart(
        live_bot, fake_binance, binance_exchange):
    order = _intent(live_bot)  # the worker dies here: committed, never sent
    restarted = orders.order_sync(bot=live_bot, order=order, exchange=binance_exchange)
    again = orders.order_sync(bot=live_bot, order=restarted, exchange=binance_exchange)
    assert len(_exchange_orders(fake_binance, order)) == 1
    assert again.status == "closed" and again.filled == AMOUNT


def test_a_crash_after_the_exchange_accepted_is_recovered_by_client_id(
        live_bot, fake_binance, binance_exchange):
    order = _intent(live_bot)
    Order.objects.filter(pk=order.pk).update(sent_at=order.created_at)
    binance_exchange.create_order(OrderRequest(  # accepted; the worker died before saving
        symbol="BTC/USDT", side="buy", type="market", amount=AMOUNT, price=None,
        client_order_id=order.client_order_id))
    order.refresh_from_db()
    recovered = orders.order_sync(bot=live_bot, order=order, exchange=binance_exchange)
    assert len(_exchange_orders(fake_binance, order)) == 1
    assert recovered.status == "closed" and recovered.exchange_order_id


def test_a_lost_answer_is_recovered_by_client_id_without_resending(
        live_bot, fake_binance, binance_exchange):
    order = _intent(live_bot)
    fake_binance.lose_response_next("/api/v3/order", times=1)
    sent = orders.order_submit(bot=live_bot, order=order, exchange=binance_exchange)
    assert sent.status == Order.Status.UNKNOWN
    recovered = orders.order_sync(bot=live_bot, order=sent, exchange=binance_exchange)
    assert len(_exchange_orders(fake_binance, order)) == 1
    assert recovered.status == "closed"


def test_a_crash_after_the_fill_records_each_fill_once(live_bot, fake_binance,
                                                       binance_exchange):
    order = orders.order_submit(bot=live_bot, order=_intent(live_bot),
                                exchange=binance_exchange)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.OPEN)  # died before saving
    order.refresh_from_db()
    orders.order_sync(bot=live_bot, order=order, exchange=binance_exchange)
    orders.order_sync(bot=live_bot, order=order, exchange=binance_exchange)
    position = selectors.position_for_bot(bot=live_bot)
    fills = Fill.objects.filter(order=order)
    assert fills.count() >= 1
    # Each fill once, less its fee (the stand-in takes a buy's fee in BTC, as Binance does).
    assert position.amount == AMOUNT - sum(fill.fee for fill in fills)
    assert len(_exchange_orders(fake_binance, order)) == 1


def test_the_same_decision_twice_is_one_order(live_bot, fake_binance, binance_exchange):
    first = orders.order_submit(bot=live_bot, order=_intent(live_bot),
                                exchange=binance_exchange)
    retried = orders.order_submit(bot=live_bot, order=_intent(live_bot),
                                  exchange=binance_exchange)
    assert first.pk == retried.pk
    assert Order.objects.filter(bot=live_bot).count() == 1
    assert len(_exchange_orders(fake_binance, first)) == 1


def test_a_429_on_placement_is_reconciled_not_blindly_retried(live_bot, fake_binance,
                                                              binance_exchange):
    order = _intent(live_bot)
    fake_binance.rate_limit_next("/api/v3/order", times=1, retry_after=0.01)
    sent = orders.order_submit(bot=live_bot, order=order, exchange=binance_exchange)
    assert sent.status == Order.Status.UNKNOWN
    recovered = orders.order_sync(bot=live_bot, order=sent, exchange=binance_exchange)
    assert recovered.status == "closed"
    assert len(_exchange_orders(fake_binance, order)) == 1


def test_a_partially_filled_market_order_books_only_what_filled(
        live_bot, fake_binance, binance_exchange):
    fake_binance.partial_fill_next("0.4")
    order = orders.order_submit(bot=live_bot, order=_intent(live_bot),
                                exchange=binance_exchange)
    # Binance expires the unfilled rest of a market order; the ledger holds the filled part.
    assert order.status == "expired" and order.filled == AMOUNT * Decimal("0.4")
    [fill] = Fill.objects.filter(order=order)
    assert selectors.position_for_bot(bot=live_bot).amount == order.filled - fill.fee


# --- Property: position = sum of unique fills, however fills repeat or arrive -------------

fill_amounts = st.lists(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("2"),
                                    places=4), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=fill_amounts, repeats=st.lists(st.integers(0, 7), max_size=12),
       sells=st.integers(0, 3))
def test_position_equals_the_sum_of_unique_fills(live_bot, amounts, repeats, sells):
    Fill.objects.filter(bot=live_bot).delete()
    Position.objects.filter(bot=live_bot).delete()
    order = _intent(live_bot)
    buys = [TradeFill(trade_id=f"b{i}", exchange_order_id="x", client_order_id=None,
                      symbol="BTC/USDT", side="buy", amount=amount, price=Decimal("100"),
                      fee=Decimal("0"), fee_currency="USDT", timestamp_ms=CANDLE + i)
            for i, amount in enumerate(amounts)]
    delivered = buys + [buys[r % len(buys)] for r in repeats]  # duplicates, any order
    for fill in delivered:
        fill_record(bot=live_bot, order=order, fill=fill)
    sold = sum(amounts[:sells], Decimal(0))
    for i, amount in enumerate(amounts[:sells]):
        sell = TradeFill(trade_id=f"s{i}", exchange_order_id="y", client_order_id=None,
                         symbol="BTC/USDT", side="sell", amount=amount, price=Decimal("101"),
                         fee=Decimal("0"), fee_currency="USDT", timestamp_ms=CANDLE + 100 + i)
        fill_record(bot=live_bot, order=order, fill=sell)
        fill_record(bot=live_bot, order=order, fill=sell)
    position = selectors.position_for_bot(bot=live_bot)
    assert position.amount == sum(amounts, Decimal(0)) - sold
    assert Fill.objects.filter(bot=live_bot).count() == len(amounts) + min(sells, len(amounts))
