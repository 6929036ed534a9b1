"""No silent failure: a bot whose ticks keep failing pauses itself with the reason, a Thought
and an alert after a bounded number of failed ticks (the `exchange_errors` breaker).

Live bots talk to the Binance stand-in through the real ccxt client; market data comes from
the stepping market. Expected failures (no credentials, a revoked key, refused orders) log
one line without a traceback; an unexpected exception keeps its traceback; both count.
"""
from __future__ import annotations

import logging
from decimal import Decimal

import numpy as np
import pytest

from tests.base import owner_actor
from tests.trading.conftest import make_live_bot, make_paper_bot
from trading.core.strategies import STRATEGIES
from trading.core.strategies.sma_cross import SmaCross
from trading.engine import run_tick
from trading.exchanges.factory import exchange_for
from trading.models import Bot, Order, Thought
from trading.services.credentials import exchange_credentials_remove
from trading.services.orders import order_intent_create

LIMIT = 3


def _live_bot(tenant, *, parameters=None) -> Bot:
    return make_live_bot(tenant, parameters=parameters, preset="aggressive",
                         breakers={"exchange_errors": LIMIT})


def _tick(bot: Bot, market) -> str:
    market.step()
    return run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk).status


def _engine_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "trading.engine"
            and record.levelno >= logging.WARNING]


def _assert_paused_with(bot: Bot, pauses: list[dict], words: str) -> Bot:
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.status == Bot.Status.PAUSED
    assert bot.paused_reason.startswith("auto-paused:") and words in bot.paused_reason
    thought = Thought.objects.filter(bot=bot, kind=Thought.Kind.BREAKER).get()
    assert words in thought.summary
    assert [(alert["bot_id"], words in alert["reason"]) for alert in pauses] == [(bot.pk, True)]
    return bot


def test_a_live_bot_whose_credentials_are_gone_pauses_after_the_limit_without_tracebacks(
        world, binance_live, market, pauses, caplog, django_capture_on_commit_callbacks):
    bot = _live_bot(world.tenant_a)
    exchange_credentials_remove(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                account_id=bot.account_id)
    order, _ = order_intent_create(bot=bot, candle_ts=1, action="entry", side="buy",
                                   amount=Decimal("0.01"))  # the order that sat in `intent`
    caplog.set_level(logging.WARNING, logger="trading.engine")

    with django_capture_on_commit_callbacks(execute=True):
        outcomes = [_tick(bot, market) for _ in range(LIMIT)]

    assert outcomes == ["error"] * (LIMIT - 1) + ["paused"]
    _assert_paused_with(bot, pauses, "no API credentials")
    records = _engine_records(caplog)
    assert len(records) == LIMIT  # one line per failed tick ...
    assert all(record.exc_info is None for record in records)  # ... and no traceback
    assert f"({LIMIT}/{LIMIT})" in records[-1].getMessage()
    assert not binance_live.orders_with_client_id(order.client_order_id)


def test_a_key_revoked_after_it_signed_requests_still_pauses_the_bot(
        world, binance_live, market, pauses, django_capture_on_commit_callbacks):
    """ccxt reads -2015 from a client that signed before as a temporary ban (DDoSProtection);
    a revoked key must still count as a refusal, not as a rate limit to wait out forever."""
    bot = _live_bot(world.tenant_a, parameters={"fast": 1, "slow": 2})
    exchange_for(bot.account, None).fetch_balance()  # the process's client has signed once
    binance_live.keys.clear()
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = [_tick(bot, market) for _ in range(300)]
    assert "paused" in outcomes, outcomes[-5:]
    _assert_paused_with(bot, pauses, "API-key")
    assert not Order.objects.filter(bot=bot, status=Order.Status.UNKNOWN).exists()


def test_a_revoked_key_pauses_the_bot_after_the_limit_of_refused_orders(
        world, binance_live, market, pauses, django_capture_on_commit_callbacks):
    bot = _live_bot(world.tenant_a, parameters={"fast": 1, "slow": 2})
    binance_live.keys.clear()  # the customer deleted the key at the exchange
    outcomes = []
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(300):
            outcomes.append(_tick(bot, market))
            if outcomes[-1] == "paused":
                break
    refused = Order.objects.filter(bot=bot, status=Order.Status.REJECTED)
    assert refused.count() == LIMIT, outcomes  # holds in between do not reset the count
    assert all("API-key" in order.error for order in refused)
    _assert_paused_with(bot, pauses, "API-key")
    assert _tick(bot, market) != "ticked"  # paused: no fourth order
    assert refused.count() == LIMIT


class _Broken(SmaCross):
    key = "broken"

    @classmethod
    def compute(cls, candles, params) -> np.ndarray:
        raise RuntimeError("a bug in the strategy")


def test_an_unexpected_exception_keeps_its_traceback_and_counts_toward_the_breaker(
        world, market, pauses, caplog, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setitem(STRATEGIES, "broken", _Broken)
    bot = make_paper_bot(world.tenant_a, strategy="broken")
    Bot.objects.filter(pk=bot.pk).update(breakers={"exchange_errors": LIMIT})
    caplog.set_level(logging.WARNING, logger="trading.engine")

    with django_capture_on_commit_callbacks(execute=True):
        outcomes = [_tick(bot, market) for _ in range(LIMIT)]

    assert outcomes == ["error"] * (LIMIT - 1) + ["paused"]
    bot = _assert_paused_with(bot, pauses, "RuntimeError")
    assert "a bug in the strategy" not in bot.paused_reason  # internals stay in the log
    records = _engine_records(caplog)
    assert len(records) == LIMIT
    assert all(record.exc_info and record.exc_info[0] is RuntimeError for record in records)


def test_a_successful_order_resets_the_count(world, binance_live, market, pauses):
    bot = _live_bot(world.tenant_a, parameters={"fast": 1, "slow": 2})
    Bot.objects.filter(pk=bot.pk).update(exchange_errors=LIMIT - 1)
    for _ in range(300):
        _tick(bot, market)
        if Order.objects.filter(bot=bot, status=Order.Status.CLOSED).exists():
            break
    else:
        pytest.fail("the bot never traded in 300 candles")
    assert Bot.objects.get(pk=bot.pk).exchange_errors == 0
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.RUNNING
