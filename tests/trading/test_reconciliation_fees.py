"""Reconciliation sees fees: each bot's position against what its fills and fees imply, and
the account's positions against the exchange, through the real ccxt client and the Binance
stand-in (which takes a buy's fee from the coins bought, as Binance does without BNB)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.exchanges.factory import live_exchange
from trading.models import Bot, ExchangeAccount, Fill, Order, Position, ReconcileStatus
from trading.services import orders
from trading.services.accounts import exchange_account_create
from trading.services.credentials import exchange_credentials_save
from trading.services.reconciliation import reconcile_account

CANDLE = 1_700_000_040_000


@pytest.fixture
def account(world, binance_live) -> ExchangeAccount:
    binance_live.set_balance("BTC", "0")  # the customer holds no coins of their own
    tenant = world.tenant_a
    account = exchange_account_create(tenant=tenant, actor=owner_actor(tenant), label="live",
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=tenant, actor=owner_actor(tenant), account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    return ExchangeAccount.objects.get(pk=account.pk)


def _bot(world, account, name: str = "live") -> Bot:
    return Bot.objects.create(tenant=world.tenant_a, name=name, account=account,
                              symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 3, "slow": 8})


def _buy(bot: Bot, amount: str, candle: int = CANDLE) -> Order:
    order, _ = orders.order_intent_create(bot=bot, candle_ts=candle, action=f"buy-{candle}",
                                          side="buy", amount=Decimal(amount))
    return orders.order_sync(bot=bot, order=order, exchange=live_exchange(bot.account))


def _reconcile(world, account):
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    return report, ExchangeAccount.objects.get(pk=account.pk)


def _status(bot: Bot) -> str:
    return Bot.objects.get(pk=bot.pk).status


def test_a_buy_with_its_fee_in_btc_leaves_ledger_and_exchange_in_agreement(
        world, account, binance_live):
    bot = _bot(world, account)
    _buy(bot, "0.01567")
    assert Position.objects.get(bot=bot).amount == Decimal("0.01565433") == \
        binance_live.balance("BTC")[0]
    report, stored = _reconcile(world, account)
    assert (report.checked, report.drifts) == (["BTC"], [])
    assert stored.reconcile_status == ReconcileStatus.OK and _status(bot) == Bot.Status.RUNNING


def test_a_position_that_kept_its_base_fee_is_a_fee_drift_and_safe_stops(world, account):
    bot = _bot(world, account)
    _buy(bot, "0.01567")
    # The ledger as it was before fees came off: it holds the gross amount bought.
    Position.objects.filter(bot=bot).update(amount=Decimal("0.01567"))
    report, stored = _reconcile(world, account)
    summaries = [drift.summary for drift in report.drifts]
    assert ("fee drift: bot 'live' holds 0.01567 BTC by its position, 0.01565433 by its "
            "fills and fees") in summaries
    # The exchange holds the net amount: 0.1 % short of the position, and that is drift too.
    assert "the exchange holds 0.01565433 BTC, the ledger 0.01567" in summaries
    assert stored.reconcile_status == ReconcileStatus.DRIFT
    assert "fee drift" in stored.reconcile_detail
    paused = Bot.objects.get(pk=bot.pk)
    assert paused.status == Bot.Status.PAUSED
    assert "reconciliation drift: fee drift" in paused.paused_reason


def test_a_shortfall_the_size_of_a_fee_is_drift(world, account, binance_live):
    first, second = _bot(world, account, "first"), _bot(world, account, "second")
    _buy(first, "0.01")
    _buy(second, "0.01", CANDLE + 60_000)
    # Each position matches its own fills; the exchange holds 0.1 % less than both together.
    held = Position.objects.get(bot=first).amount + Position.objects.get(bot=second).amount
    binance_live.set_balance("BTC", held * Decimal("0.999"))
    report, _ = _reconcile(world, account)
    [drift] = report.drifts
    assert (drift.currency, drift.ledger, drift.exchange) == ("BTC", held, held * Decimal("0.999"))
    assert {_status(first), _status(second)} == {Bot.Status.PAUSED}


def test_a_fill_the_ledger_imported_late_keeps_position_and_fills_agreeing(
        world, account, binance_live):
    bot = _bot(world, account)
    order = _buy(bot, "0.01567")
    Fill.objects.filter(order=order).delete()  # as if the worker died before recording it
    Position.objects.filter(bot=bot).delete()
    report, _ = _reconcile(world, account)
    assert report.fills_imported == 1 and report.drifts == []
    assert Position.objects.get(bot=bot).amount == binance_live.balance("BTC")[0]
