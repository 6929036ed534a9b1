"""close_all never answers 500: it is queued (202), recorded on the bot, and the engine's ticks
retry it until the position is sold or, after the breaker's bound, give up with the reason.

A live bot on the Binance stand-in through the real ccxt client; "unreachable" points the
client at a closed port (connection refused), "back" points it at the stand-in again.
"""
from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.fakes.binance import binance_markets
from tests.trading.conftest import make_live_bot
from trading import selectors
from trading.engine import run_tick
from trading.exchanges.factory import live_exchange
from trading.exchanges.live_clients import set_live_connection
from trading.models import Bot, Order, Thought
from trading.services import orders

CANDLE = 1_700_000_040_000


def _point_live_client_at(url: str) -> None:
    set_live_connection("binance", urls_api=url, markets=binance_markets(), timeout_ms=2000,
                        ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connection refused


@pytest.fixture
def holding_bot(world, binance_live, market) -> Bot:
    """A running live bot holding the BTC it bought through the stand-in."""
    bot = make_live_bot(world.tenant_a,
                        breakers={"exchange_errors": 3, "disconnect_seconds": 60})
    buy, _ = orders.order_intent_create(bot=bot, candle_ts=CANDLE, action="entry", side="buy",
                                        amount=Decimal("0.02"))
    orders.order_sync(bot=bot, order=buy, exchange=live_exchange(bot.account))
    assert selectors.position_for_bot(bot=bot).amount > 0
    return Bot.objects.get(pk=bot.pk)


def _close_all(world, bot: Bot, capture):
    with capture(execute=True):
        return world.client_with_key(world.control_key_a).post(
            f"/api/v1/bots/{bot.pk}/close_all/")


def _tick_at(bot: Bot, requested, seconds: float) -> str:
    return run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk,
                    now=requested + timedelta(seconds=seconds)).status


def test_close_all_with_the_exchange_unreachable_is_queued_and_sells_once_it_is_back(
        world, holding_bot, binance_live, market, django_capture_on_commit_callbacks):
    held = selectors.position_for_bot(bot=holding_bot).amount
    _point_live_client_at(_closed_port_url())

    response = _close_all(world, holding_bot, django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "paused"
    assert response.json()["close_requested_at"] is not None
    bot = Bot.objects.get(pk=holding_bot.pk)
    requested = bot.close_requested_at
    sell = Order.objects.get(bot=bot, reason="close_all")
    assert (sell.side, sell.amount, sell.status) == ("sell", held, Order.Status.UNKNOWN)

    market.step()  # a new candle while still down: the retry follows the same sell
    assert _tick_at(bot, requested, 5) == "error"
    assert Order.objects.filter(bot=bot, reason="close_all").count() == 1
    assert Bot.objects.get(pk=bot.pk).close_requested_at == requested

    _point_live_client_at(binance_live.url)
    market.step()
    assert _tick_at(bot, requested, 20) == "ticked"

    assert selectors.position_for_bot(bot=bot).amount == 0
    assert Order.objects.get(pk=sell.pk).status == Order.Status.CLOSED
    assert len(binance_live.orders_with_client_id(sell.client_order_id)) == 1  # sold once
    assert Order.objects.filter(bot=bot, reason="close_all").count() == 1
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.close_requested_at is None and bot.status == Bot.Status.PAUSED
    assert bot.exchange_errors == 0
    summaries = list(Thought.objects.filter(bot=bot).values_list("summary", flat=True))
    assert any("Close all did not go through (attempt 1)" in text for text in summaries)
    assert any("Close all done" in text for text in summaries)


def test_close_all_while_the_market_feed_is_down_is_queued_not_a_500(
        world, holding_bot, binance_live, market, django_capture_on_commit_callbacks):
    market.fail = True

    response = _close_all(world, holding_bot, django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    bot = Bot.objects.get(pk=holding_bot.pk)
    assert bot.close_requested_at is not None
    assert not Order.objects.filter(bot=bot, reason="close_all").exists()

    market.fail = False
    assert _tick_at(bot, bot.close_requested_at, 5) == "ticked"
    assert selectors.position_for_bot(bot=bot).amount == 0
    assert Bot.objects.get(pk=bot.pk).close_requested_at is None


def test_a_close_that_keeps_failing_gives_up_with_the_reason_a_thought_and_an_alert(
        world, holding_bot, market, pauses, django_capture_on_commit_callbacks):
    _point_live_client_at(_closed_port_url())
    assert _close_all(world, holding_bot,
                      django_capture_on_commit_callbacks).status_code == 202  # attempt 1
    bot = Bot.objects.get(pk=holding_bot.pk)
    requested = bot.close_requested_at

    with django_capture_on_commit_callbacks(execute=True):
        # attempts 2 and 3 reach the count limit (3) before the 60 s the close is given;
        # attempt 4 is past both, so the close is given up.
        outcomes = [_tick_at(bot, requested, seconds) for seconds in (10, 30, 61)]

    assert outcomes == ["error", "error", "paused"]
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.status == Bot.Status.PAUSED and bot.close_requested_at is None
    assert bot.paused_reason.startswith("auto-paused: close all failed")
    assert "4 attempts" in bot.paused_reason
    assert Thought.objects.filter(bot=bot, kind=Thought.Kind.BREAKER,
                                  summary__contains="close all failed").exists()
    assert [alert["bot_id"] for alert in pauses] == [bot.pk]
    assert "close all failed" in pauses[0]["reason"]
    assert Order.objects.filter(bot=bot, reason="close_all").count() == 1
    assert bot.next_tick_at >= requested + timedelta(minutes=30)  # no more retries


def test_a_failed_attempt_waits_longer_each_time(world, holding_bot, market,
                                                 django_capture_on_commit_callbacks):
    _point_live_client_at(_closed_port_url())
    _close_all(world, holding_bot, django_capture_on_commit_callbacks)
    bot = Bot.objects.get(pk=holding_bot.pk)
    first_wait = bot.next_tick_at - bot.close_requested_at
    _tick_at(bot, bot.close_requested_at, 10)
    second_wait = Bot.objects.get(pk=bot.pk).next_tick_at - (
        bot.close_requested_at + timedelta(seconds=10))
    assert second_wait > first_wait > timedelta(0)


def test_the_close_all_button_queues_the_close_when_the_feed_is_down(
        world, client, holding_bot, market, django_capture_on_commit_callbacks):
    client.force_login(world.alice)
    market.fail = True
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("dashboard:bot_close_all", args=[holding_bot.pk]))
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "retried" in message
    assert Bot.objects.get(pk=holding_bot.pk).close_requested_at is not None
