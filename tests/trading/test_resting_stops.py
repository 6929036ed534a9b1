"""Stops that rest at the exchange: placed after each live entry, moved with the position,
cancelled before any exit, and picked up as the exit when they fill while the platform is
down. Live bots run through the real ccxt client against the Binance stand-in."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
import time_machine
from django.urls import reverse

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from tests.trading.conftest import make_paper_bot
from trading.engine import run_tick
from trading.exchanges.base import InvalidOrder, OrderRequest
from trading.exchanges.factory import live_exchange
from trading.models import Bot, Fill, Order, Thought, Trade
from trading.selectors import position_for_bot
from trading.services import protection
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_close_all, bot_create
from trading.services.credentials import exchange_credentials_save
from trading.services.orders import order_intent_create, order_submit
from trading.services.reconciliation import reconcile_account

ORDER_PATH = "/api/v3/order"
ENTRY_CURSOR = 69  # sma_cross 3/8 on the sample market signals an entry on candle 68
STOP_PCT = Decimal("5")  # the balanced preset's stop loss
TICK = Decimal("0.01")  # the stand-in's BTC/USDT price step


def live_bot(tenant, name="stopper") -> Bot:
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"live-{name}",
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=tenant, actor=actor, account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    return bot_create(tenant=tenant, actor=actor, name=name, account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                      parameters={"fast": 3, "slow": 8}, preset="balanced")


def tick(bot: Bot, market, fake, *, to_cursor: int):
    """Tick once per candle up to `to_cursor`; the stand-in's price follows the closes."""
    outcome = None
    while market.cursor < to_cursor:
        market.step()
        fake.set_price("BTC/USDT", Decimal(repr(float(market.candles.close[market.cursor - 1]))))
        outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
        assert outcome.status in ("ticked", "idle"), outcome
    return outcome


def resting_stops(fake) -> list[dict]:
    return [order for order in fake.orders.values()
            if order["type"] == "STOP_LOSS_LIMIT" and order["status"] == "NEW"]


def sells(fake) -> list[dict]:
    return [order for order in fake.orders.values() if order["side"] == "SELL"]


def sellable(amount: Decimal) -> Decimal:
    """Whole lots of the stand-in's BTC step: what an order can sell of a position."""
    return amount.quantize(Decimal("0.00001"), rounding=ROUND_DOWN)


def expected_stop(position) -> Decimal:
    level = position.average_price * (1 - STOP_PCT / 100)
    return level.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def enter(bot: Bot, exchange, candle_ts: int, amount: str) -> Order:
    order, _ = order_intent_create(bot=bot, candle_ts=candle_ts, action="entry", side="buy",
                                   amount=Decimal(amount))
    order = order_submit(bot=bot, order=order, exchange=exchange)
    assert order.status == Order.Status.CLOSED, order.error
    return order


# --- After an entry -------------------------------------------------------------------------------

def test_after_a_live_entry_a_stop_rests_at_the_exchange(world, market, stand_in):
    bot = live_bot(world.tenant_a)
    tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR)
    position = position_for_bot(bot=bot)
    assert position is not None and position.amount > 0
    [stop] = resting_stops(stand_in)
    assert stop["side"] == "SELL" and Decimal(stop["origQty"]) == sellable(position.amount)
    assert Decimal(stop["stopPrice"]) == pytest.approx(expected_stop(position), abs=TICK)
    assert Decimal(stop["price"]) < Decimal(stop["stopPrice"])  # the limit leaves room to fill
    row = Order.objects.for_tenant(world.tenant_a).get(client_order_id=stop["clientOrderId"])
    assert row.is_protective and row.status == Order.Status.OPEN and row.reason == "stop_loss"
    assert row.stop_price == pytest.approx(Decimal(stop["stopPrice"]), abs=TICK)  # one tick


def test_a_stop_filled_while_the_platform_was_down_is_the_exit_recorded_once(
        world, market, stand_in):
    bot = live_bot(world.tenant_a)
    tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR)
    [stop] = resting_stops(stand_in)
    # The platform goes down (no ticks) and the price falls through the stop.
    stand_in.set_price("BTC/USDT", Decimal(stop["stopPrice"]) - Decimal("10"))
    assert stand_in.orders[stop["orderId"]]["status"] == "FILLED"
    market.step(3)  # three candles pass unseen
    tick(bot, market, stand_in, to_cursor=market.cursor + 1)
    tick(bot, market, stand_in, to_cursor=market.cursor + 2)  # and later ticks sell nothing
    trade = Trade.objects.for_tenant(world.tenant_a).get(bot=bot)
    assert trade.status == Trade.Status.CLOSED and trade.exit_reason == "stop_loss"
    assert position_for_bot(bot=bot).amount < Decimal("0.00001")  # dust below a lot stays
    assert len(sells(stand_in)) == 1
    assert Fill.objects.for_tenant(world.tenant_a).filter(bot=bot, side="sell").count() == 1
    row = Order.objects.for_tenant(world.tenant_a).get(client_order_id=stop["clientOrderId"])
    assert row.status == Order.Status.CLOSED


def test_a_stop_filled_at_the_exchange_starts_the_cooldown_after_a_stop_loss(
        world, market, stand_in):
    """The balanced preset refuses entries for 6 candles after a stop loss, whether the
    platform sold or the exchange's stop did. The clocks of the exchange and of the market
    agree here (both on the sample's candles)."""
    candle_time = lambda index: datetime.fromtimestamp(  # noqa: E731
        int(market.candles.timestamp[index]) / 1000, tz=UTC)
    with time_machine.travel(candle_time(market.cursor), tick=True) as clock:
        bot = live_bot(world.tenant_a)
        tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR)
        [stop] = resting_stops(stand_in)
        clock.move_to(candle_time(71) + timedelta(seconds=30))
        stand_in.set_price("BTC/USDT", Decimal(stop["stopPrice"]) - Decimal("10"))
        clock.move_to(candle_time(77) + timedelta(seconds=1))
        tick(bot, market, stand_in, to_cursor=77)  # candle 76 signals an entry: refused
        assert not [o for o in stand_in.orders.values() if o["side"] == "BUY"][1:]
        thought = Thought.objects.for_tenant(world.tenant_a).filter(
            bot=bot, candle_ts=int(market.candles.timestamp[76])).get()
        assert "cooling down after a stop loss" in thought.summary
        clock.move_to(candle_time(91) + timedelta(seconds=1))
        tick(bot, market, stand_in, to_cursor=91)  # candle 90's entry, after the cooldown
    assert len([o for o in stand_in.orders.values() if o["side"] == "BUY"]) == 2


def test_reconciliation_records_a_stop_filled_while_ticks_were_down(world, market, stand_in):
    bot = live_bot(world.tenant_a)
    tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR)
    [stop] = resting_stops(stand_in)
    stand_in.set_price("BTC/USDT", Decimal(stop["stopPrice"]) - Decimal("10"))
    report = reconcile_account(tenant_id=bot.tenant_id, account_id=bot.account_id)
    assert report.fills_imported == 1 and not report.drifts
    assert "BTC" in report.checked  # a resting stop is not an order "in flight"
    trade = Trade.objects.for_tenant(world.tenant_a).get(bot=bot)
    assert trade.status == Trade.Status.CLOSED and trade.exit_reason == "stop_loss"
    tick(bot, market, stand_in, to_cursor=market.cursor + 2)
    assert len(sells(stand_in)) == 1
    assert Fill.objects.for_tenant(world.tenant_a).filter(bot=bot, side="sell").count() == 1


# --- Moved and cancelled with the position ----------------------------------------------------

def test_a_second_entry_replaces_the_stop_with_the_new_amount_and_level(world, market, stand_in):
    bot = live_bot(world.tenant_a)
    exchange = live_exchange(bot.account)
    enter(bot, exchange, 1_700_000_000_000, "0.01")
    first = protection.protection_ensure(bot=bot, exchange=exchange, candle_ts=1_700_000_000_000)
    [resting] = resting_stops(stand_in)
    assert resting["clientOrderId"] == first.client_order_id
    stand_in.set_price("BTC/USDT", "48000")
    enter(bot, exchange, 1_700_000_060_000, "0.02")
    second = protection.protection_ensure(bot=bot, exchange=exchange,
                                          candle_ts=1_700_000_060_000)
    position = position_for_bot(bot=bot)
    [resting] = resting_stops(stand_in)
    assert resting["clientOrderId"] == second.client_order_id != first.client_order_id
    assert Decimal(resting["origQty"]) == sellable(position.amount)
    assert Decimal(resting["stopPrice"]) == pytest.approx(expected_stop(position), abs=TICK)
    assert stand_in.orders_with_client_id(first.client_order_id)[0]["status"] == "CANCELED"
    # A retried tick finds the resting stop and sends nothing.
    posts = stand_in.request_count(ORDER_PATH, "POST")
    again = protection.protection_ensure(bot=bot, exchange=exchange,
                                         candle_ts=1_700_000_060_000)
    assert again.pk == second.pk and stand_in.request_count(ORDER_PATH, "POST") == posts
    pending = Order.objects.for_tenant(world.tenant_a).filter(
        bot=bot, type=Order.Type.STOP_LIMIT, status=Order.Status.OPEN)
    assert list(pending) == [second]


def test_close_all_cancels_the_resting_stop_before_selling(
        world, market, stand_in, django_capture_on_commit_callbacks):
    bot = live_bot(world.tenant_a)
    exchange = live_exchange(bot.account)
    enter(bot, exchange, 1_700_000_000_000, "0.01")
    stop = protection.protection_ensure(bot=bot, exchange=exchange, candle_ts=1_700_000_000_000)
    held = position_for_bot(bot=bot).amount
    stand_in.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        bot_close_all(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=bot.pk)
    calls = [call for call in stand_in.requests if call[1] == ORDER_PATH]
    assert calls.index(("DELETE", ORDER_PATH)) < calls.index(("POST", ORDER_PATH))
    assert stand_in.orders_with_client_id(stop.client_order_id)[0]["status"] == "CANCELED"
    [sale] = [order for order in sells(stand_in) if order["type"] == "MARKET"]
    assert Decimal(sale["executedQty"]) == sellable(held)
    assert position_for_bot(bot=bot).amount < Decimal("0.00001") and not resting_stops(stand_in)
    assert Trade.objects.for_tenant(world.tenant_a).get(bot=bot).exit_reason == "close_all"


def test_a_signal_exit_cancels_the_stop_first_and_sells_once(world, market, stand_in):
    bot = live_bot(world.tenant_a)
    tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR)
    [stop] = resting_stops(stand_in)
    stand_in.requests.clear()
    tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR + 2)  # candle 70 signals the exit
    calls = [call for call in stand_in.requests if call[1] == ORDER_PATH and call[0] != "GET"]
    assert calls == [("DELETE", ORDER_PATH), ("POST", ORDER_PATH)]
    assert stand_in.orders[stop["orderId"]]["status"] == "CANCELED"
    assert len(sells(stand_in)) == 2 and not resting_stops(stand_in)
    assert Trade.objects.for_tenant(world.tenant_a).get(bot=bot).exit_reason == "exit"
    assert position_for_bot(bot=bot).amount < Decimal("0.00001")


def test_a_target_touched_between_candles_cancels_the_stop_and_sells_once(
        world, market, stand_in):
    bot = live_bot(world.tenant_a)
    Bot.objects.filter(pk=bot.pk).update(risk={"take_profit_pct": 0.05})
    tick(bot, market, stand_in, to_cursor=ENTRY_CURSOR)
    [stop] = resting_stops(stand_in)
    stand_in.requests.clear()
    # The forming candle's high passes the target: the tick between closes sells.
    assert run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status == "ticked"
    calls = [call for call in stand_in.requests if call[1] == ORDER_PATH and call[0] != "GET"]
    assert calls == [("DELETE", ORDER_PATH), ("POST", ORDER_PATH)]
    assert stand_in.orders[stop["orderId"]]["status"] == "CANCELED"
    assert len(sells(stand_in)) == 2 and not resting_stops(stand_in)
    assert Trade.objects.for_tenant(world.tenant_a).get(bot=bot).exit_reason == "take_profit"


def test_without_a_stop_loss_nothing_rests(world, market, stand_in):
    bot = live_bot(world.tenant_a)
    Bot.objects.filter(pk=bot.pk).update(risk={"stop_loss_pct": None})
    bot.refresh_from_db()
    exchange = live_exchange(bot.account)
    enter(bot, exchange, 1_700_000_000_000, "0.01")
    assert protection.protection_ensure(bot=bot, exchange=exchange,
                                        candle_ts=1_700_000_000_000) is None
    assert not resting_stops(stand_in)


# --- The stand-in and the adapter -------------------------------------------------------------

def test_the_stand_in_triggers_a_stop_only_when_the_price_falls_through_it(stand_in):
    exchange = stand_in.live_exchange()
    state = exchange.create_order(OrderRequest(
        symbol="BTC/USDT", side="sell", type="stop_limit", amount=Decimal("0.01"),
        price=Decimal("47500"), stop_price=Decimal("48000"), client_order_id="ait-1-1-st0"))
    assert state.type == "stop_limit" and state.stop_price == Decimal("48000")
    assert state.status == "open" and state.filled == 0
    assert stand_in.balance("BTC")[1] == Decimal("0.01")  # the amount is locked while it rests
    stand_in.set_price("BTC/USDT", "48500")
    assert exchange.fetch_order("BTC/USDT", client_order_id="ait-1-1-st0").filled == 0
    stand_in.set_price("BTC/USDT", "47900")
    filled = exchange.fetch_order("BTC/USDT", client_order_id="ait-1-1-st0")
    assert filled.status == "closed" and filled.average == Decimal("47900")
    with pytest.raises(InvalidOrder, match="trigger immediately"):
        exchange.create_order(OrderRequest(
            symbol="BTC/USDT", side="sell", type="stop_limit", amount=Decimal("0.01"),
            price=Decimal("48500"), stop_price=Decimal("49000"), client_order_id="ait-1-2-st0"))
    exchange.close()


def test_a_stop_order_needs_a_trigger_and_a_limit():
    with pytest.raises(InvalidOrder, match="trigger"):
        OrderRequest(symbol="BTC/USDT", side="sell", type="stop_limit", amount=Decimal("1"),
                     price=Decimal("10"), client_order_id="x")
    with pytest.raises(InvalidOrder, match="price"):
        OrderRequest(symbol="BTC/USDT", side="sell", type="stop_limit", amount=Decimal("1"),
                     price=None, stop_price=Decimal("10"), client_order_id="x")


# --- Where the stop is watched, on the bot's page and in the API ---------------------------------

def test_a_paper_bots_page_says_the_platform_watches_its_stop(world, client, market):
    bot = make_paper_bot(world.tenant_a, preset="balanced")
    client.force_login(world.alice)
    html = client.get(reverse("dashboard:bot_detail", args=[bot.pk])).content.decode()
    assert "watched by the platform" in html and "not resting at the exchange" in html
    api = world.client_with_key(world.read_key_a)
    assert api.get(f"/api/v1/bots/{bot.pk}/").json()["stop_loss_rests_at"] == "platform"


def test_a_live_bots_page_shows_its_resting_stop(world, client, market, stand_in):
    bot = live_bot(world.tenant_a)
    exchange = live_exchange(bot.account)
    enter(bot, exchange, 1_700_000_000_000, "0.01")
    stop = protection.protection_ensure(bot=bot, exchange=exchange, candle_ts=1_700_000_000_000)
    client.force_login(world.alice)
    html = client.get(reverse("dashboard:bot_detail", args=[bot.pk])).content.decode()
    assert "resting at binance" in html and "watched by the platform" not in html
    assert f"{stop.stop_price.normalize():f}" in html.replace(",", "")
    api = world.client_with_key(world.read_key_a)
    assert api.get(f"/api/v1/bots/{bot.pk}/").json()["stop_loss_rests_at"] == "exchange"
