"""Live-order guards: a per-bot symbol allowlist and a max order value, refused before
anything reaches the exchange, logged and alerted."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.exchanges.factory import exchange_for
from trading.models import ExchangeAccount, Order, Position
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create
from trading.services.credentials import exchange_credentials_save
from trading.services.guards import LiveOrderRefused, live_order_check, live_order_guard
from trading.services.orders import order_intent_create, order_submit
from trading.signals import order_failed

ORDER_PATH = "/api/v3/order"
TICKER_PATH = "/api/v3/ticker/24hr"


# Live bots trade only on the exchange's own data: a stepping market stands in for it.
pytestmark = pytest.mark.usefixtures("market")


@pytest.fixture
def alerts():
    """order_failed signals sent during the test."""
    sent: list[dict] = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    order_failed.connect(receiver, weak=False)
    yield sent
    order_failed.disconnect(receiver)


def make_bot(tenant, *, mode="live", symbol="BTC/USDT", allowed_symbols=None,
             max_order_value=None, name="guarded"):
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"{mode}-{name}",
                                      exchange_id="binance", mode=mode)
    if mode == "live":  # a live bot needs saved credentials; these tests never load them
        ExchangeAccount.objects.filter(pk=account.pk).update(credential_ref="stand-in")
    return bot_create(tenant=tenant, actor=actor, name=name, account_id=account.pk,
                      symbol=symbol, timeframe="1m", strategy="sma_cross",
                      parameters={"fast": 3, "slow": 8}, allowed_symbols=allowed_symbols or [],
                      max_order_value=max_order_value)


def check(bot, *, side="buy", amount="0.01", price="50000", symbol=None):
    live_order_check(bot=bot, side=side, amount=Decimal(amount),
                     price=None if price is None else Decimal(price), symbol=symbol)


# --- The check --------------------------------------------------------------------------------


def test_it_lets_an_order_within_the_guards_through(world, alerts):
    bot = make_bot(world.tenant_a, allowed_symbols=["BTC/USDT"], max_order_value=Decimal(500))
    check(bot, amount="0.01", price="50000")  # worth exactly 500
    assert alerts == []


def test_it_refuses_a_symbol_outside_the_allowlist_logs_and_alerts(world, alerts, caplog):
    bot = make_bot(world.tenant_a, symbol="ETH/USDT", allowed_symbols=["BTC/USDT"])
    with caplog.at_level(logging.WARNING, logger="trading.services.guards"):
        with pytest.raises(LiveOrderRefused) as caught:
            check(bot, price="2500")
    assert "ETH/USDT is not in the allowed symbols" in caught.value.message
    assert "BTC/USDT" in caught.value.message
    assert alerts == [{"signal": order_failed, "tenant_id": world.tenant_a.pk,
                       "bot_id": bot.pk, "order_id": None, "error": caught.value.message}]
    assert any("live order refused" in r.getMessage() for r in caplog.records)


def test_the_allowlist_ignores_case_and_an_empty_list_allows_the_bots_symbol(world, alerts):
    check(make_bot(world.tenant_a, allowed_symbols=["btc/usdt"], name="lower"))
    check(make_bot(world.tenant_a, allowed_symbols=[], name="open"))
    assert alerts == []


def test_it_refuses_an_order_for_another_symbol_than_the_bots(world, alerts):
    bot = make_bot(world.tenant_a)
    with pytest.raises(LiveOrderRefused, match="trades BTC/USDT"):
        check(bot, symbol="ETH/USDT")
    assert len(alerts) == 1


def test_it_refuses_an_order_worth_more_than_the_maximum(world, alerts):
    bot = make_bot(world.tenant_a, max_order_value=Decimal("500"))
    with pytest.raises(LiveOrderRefused) as caught:
        check(bot, amount="0.0101", price="50000")
    assert caught.value.message.startswith("This order is worth 505.00 USDT, above the 500 USDT")
    assert alerts[0]["order_id"] is None and alerts[0]["bot_id"] == bot.pk


def test_it_refuses_an_order_it_cannot_value_when_capped(world, alerts):
    bot = make_bot(world.tenant_a, max_order_value=Decimal("500"))
    with pytest.raises(LiveOrderRefused, match="no price was known"):
        check(bot, price=None)


def test_without_a_cap_any_value_passes(world, alerts):
    check(make_bot(world.tenant_a), amount="100", price=None)
    assert alerts == []


def test_selling_what_the_bot_holds_is_never_capped(world, alerts):
    bot = make_bot(world.tenant_a, max_order_value=Decimal("500"))
    Position.objects.create(tenant=world.tenant_a, bot=bot, symbol="BTC/USDT",
                            amount=Decimal("0.05"), average_price=Decimal("48000"))
    check(bot, side="sell", amount="0.05", price="50000")  # 2500 USDT: a full exit
    with pytest.raises(LiveOrderRefused):
        check(bot, side="sell", amount="0.06", price="50000")  # more than it holds
    assert len(alerts) == 1


def test_a_broken_alert_receiver_does_not_let_the_order_through(world):
    def broken(sender, **kwargs):
        raise RuntimeError("notifications are down")

    bot = make_bot(world.tenant_a, max_order_value=Decimal("10"))
    order_failed.connect(broken, weak=False)
    try:
        with pytest.raises(LiveOrderRefused):
            check(bot)
    finally:
        order_failed.disconnect(broken)


# --- The guard as order_submit runs it ------------------------------------------------------------


def intent(bot, amount="0.02", side="buy", candle_ts=1_700_000_000_000) -> Order:
    order, _created = order_intent_create(bot=bot, candle_ts=candle_ts, action="entry",
                                          side=side, amount=Decimal(amount))
    return order


def test_the_guard_values_a_market_order_at_the_exchanges_ask(world, binance_live, alerts):
    bot = make_bot(world.tenant_a, max_order_value=Decimal("500"))
    exchange = binance_live.live_exchange()
    with pytest.raises(LiveOrderRefused, match="worth 1000.00 USDT"):
        live_order_guard(bot=bot, order=intent(bot, "0.02"), exchange=exchange)
    live_order_guard(bot=bot, order=intent(bot, "0.009", candle_ts=1), exchange=exchange)
    assert binance_live.request_count(TICKER_PATH) == 2
    assert binance_live.request_count(ORDER_PATH) == 0
    exchange.close()


def test_the_guard_fails_closed_when_the_price_cannot_be_read(world, binance_live, alerts):
    bot = make_bot(world.tenant_a, max_order_value=Decimal("500"))
    binance_live.server_error_next(TICKER_PATH)
    exchange = binance_live.live_exchange()
    with pytest.raises(LiveOrderRefused, match="no price was known"):
        live_order_guard(bot=bot, order=intent(bot, "0.001"), exchange=exchange)
    exchange.close()


def test_the_guard_asks_nothing_for_a_symbol_it_refuses_anyway(world, binance_live, alerts):
    bot = make_bot(world.tenant_a, symbol="ETH/USDT", allowed_symbols=["BTC/USDT"],
                   max_order_value=Decimal("500"))
    with pytest.raises(LiveOrderRefused):
        live_order_guard(bot=bot, order=intent(bot), exchange=binance_live.live_exchange())
    assert binance_live.request_count() == 0


def test_the_guard_leaves_paper_accounts_alone(world, alerts):
    bot = make_bot(world.tenant_a, mode="paper", symbol="ETH/USDT",
                   allowed_symbols=["BTC/USDT"], max_order_value=Decimal("1"))
    live_order_guard(bot=bot, order=intent(bot), exchange=None)
    assert alerts == []


# --- End to end: order_submit on a live account whose exchange is the stand-in -----------------


@pytest.mark.parametrize("symbol, allowed, cap, refusal", [
    ("BTC/USDT", ["BTC/USDT"], Decimal("500"), "above the 500 USDT maximum"),
    ("ETH/USDT", ["BTC/USDT"], None, "not in the allowed symbols"),
])
def test_order_submit_refuses_before_anything_reaches_the_exchange(
        world, binance_live, alerts, symbol, allowed, cap, refusal):
    bot = make_bot(world.tenant_a, symbol=symbol, allowed_symbols=allowed, max_order_value=cap)
    exchange_credentials_save(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                              account_id=bot.account_id, api_key=DEFAULT_API_KEY,
                              secret=DEFAULT_SECRET, password=PASSWORD)
    bot.account.refresh_from_db()
    exchange = exchange_for(bot.account, None)  # vault credentials -> ccxt -> the stand-in
    assert exchange.fetch_balance()["USDT"].free == 100000  # this client does reach it

    order = order_submit(bot=bot, order=intent(bot, "0.02"), exchange=exchange)

    assert order.status == Order.Status.REJECTED
    assert refusal in order.error
    assert binance_live.request_count(ORDER_PATH) == 0
    assert alerts and all(alert["bot_id"] == bot.pk for alert in alerts)
