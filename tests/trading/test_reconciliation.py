"""Reconciliation of live accounts against the Binance stand-in through the real ccxt client:
missed fills are imported, holdings are compared with the ledger, drift safe-stops."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from tenants.models import AuditEvent
from tenants.vault_keys import encode_key
from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from tests.trading.conftest import make_paper_bot
from trading.exchanges.factory import live_exchange
from trading.models import Bot, ExchangeAccount, Fill, Order, Position, Thought
from trading.services import orders
from trading.services.accounts import exchange_account_create
from trading.services.credentials import exchange_credentials_save
from trading.services.reconciliation import reconcile_account
from trading.signals import bot_drift_found
from trading.tasks import reconcile_live_accounts

CANDLE = 1_700_000_040_000


def _live_account(tenant, label="live") -> ExchangeAccount:
    account = exchange_account_create(tenant=tenant, actor=owner_actor(tenant), label=label,
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=tenant, actor=owner_actor(tenant), account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    return ExchangeAccount.objects.get(pk=account.pk)


@pytest.fixture
def account(world, binance_live) -> ExchangeAccount:
    binance_live.set_balance("BTC", "0")  # the customer holds no coins of their own
    return _live_account(world.tenant_a)


@pytest.fixture
def bot(world, account) -> Bot:
    return Bot.objects.create(tenant=world.tenant_a, name="live", account=account,
                              symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 3, "slow": 8})


def _trade(bot: Bot, side: str, amount: str, candle: int = CANDLE) -> Order:
    """Place and settle one market order the way a tick does."""
    order, _ = orders.order_intent_create(bot=bot, candle_ts=candle, action=f"{side}-{candle}",
                                          side=side, amount=Decimal(amount))
    return orders.order_sync(bot=bot, order=order, exchange=live_exchange(bot.account))


def _status(bot: Bot) -> str:
    return Bot.objects.get(pk=bot.pk).status


def test_a_ledger_that_matches_the_exchange_changes_nothing(world, account, bot):
    _trade(bot, "buy", "0.02")
    _trade(bot, "sell", "0.005", CANDLE + 60_000)
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert (report.checked, report.drifts, report.error) == (["BTC"], [], "")
    assert _status(bot) == Bot.Status.RUNNING


def test_coins_missing_from_the_exchange_safe_stop_the_bot(world, account, bot, binance_live):
    _trade(bot, "buy", "0.02")
    binance_live.set_balance("BTC", "0.012")  # sold by hand on the exchange
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    [drift] = report.drifts
    assert (drift.currency, drift.exchange) == ("BTC", Decimal("0.012"))
    paused = Bot.objects.get(pk=bot.pk)
    assert paused.status == Bot.Status.PAUSED
    assert "reconciliation drift" in paused.paused_reason
    assert "the exchange holds 0.012 BTC" in paused.paused_reason
    assert Thought.objects.filter(bot=bot, kind=Thought.Kind.BREAKER).exists()
    assert AuditEvent.objects.filter(tenant=world.tenant_a, action="bot.auto_pause").exists()


def test_the_customers_own_coins_are_not_drift(world, account, bot, binance_live):
    _trade(bot, "buy", "0.02")
    binance_live.set_balance("BTC", "5.02")
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert report.drifts == [] and _status(bot) == Bot.Status.RUNNING


def test_a_fill_the_ledger_missed_is_imported_once(world, account, bot, binance_live):
    order, _ = orders.order_intent_create(bot=bot, candle_ts=CANDLE, action="entry",
                                          side="buy", amount=Decimal("0.01"),
                                          price=Decimal("30000"), order_type=Order.Type.LIMIT)
    order = orders.order_sync(bot=bot, order=order, exchange=live_exchange(account))
    assert order.status == Order.Status.OPEN
    binance_live.fill(order.exchange_order_id)  # it fills on the exchange ...
    Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELED)  # ... as we cancel
    first = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    second = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert (first.fills_imported, second.fills_imported) == (1, 0)
    assert Fill.objects.filter(order=order).count() == 1
    assert Position.objects.get(bot=bot).amount == Decimal("0.00999")  # less its BTC fee
    assert first.drifts == [] and _status(bot) == Bot.Status.RUNNING


def test_a_currency_with_an_order_in_flight_is_judged_next_time(world, account, bot,
                                                                binance_live):
    _trade(bot, "buy", "0.02")
    order, _ = orders.order_intent_create(bot=bot, candle_ts=CANDLE + 60_000, action="exit",
                                          side="sell", amount=Decimal("0.02"))
    binance_live.set_balance("BTC", "0")  # as if that sell filled and nobody recorded it yet
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert (report.in_flight, report.checked, report.drifts) == (["BTC"], [], [])
    assert _status(bot) == Bot.Status.RUNNING


def test_an_unreachable_exchange_gives_no_verdict(world, account, bot, binance_live):
    _trade(bot, "buy", "0.02")
    binance_live.set_balance("BTC", "0")
    binance_live.server_error_next("/api/v3/myTrades", times=10)
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert report.error and report.drifts == []
    assert _status(bot) == Bot.Status.RUNNING


def test_a_paused_bot_with_drift_stays_paused_and_its_drift_is_alerted(
        world, account, bot, binance_live, django_capture_on_commit_callbacks):
    _trade(bot, "buy", "0.02")
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.PAUSED, paused_reason="by hand")
    binance_live.set_balance("BTC", "0")
    sent = []

    def receive(sender, **kwargs):
        sent.append(kwargs)

    bot_drift_found.connect(receive)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
            again = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    finally:
        bot_drift_found.disconnect(receive)
    assert [drift.currency for drift in report.drifts] == ["BTC"] == [
        drift.currency for drift in again.drifts]
    assert Bot.objects.get(pk=bot.pk).paused_reason == "by hand"
    [alert] = sent  # once an hour, not every run; notifications makes it a drift alert
    assert alert["bot_id"] == bot.pk and "the exchange holds 0 BTC" in alert["summary"]


def test_the_beat_reconciles_only_live_accounts_with_keys_and_bots(world, account, bot,
                                                                   binance_live):
    make_paper_bot(world.tenant_a, name="paper")  # paper accounts have nothing to reconcile
    keyless = exchange_account_create(tenant=world.tenant_b, actor=owner_actor(world.tenant_b),
                                      label="no keys", exchange_id="binance", mode="live")
    Bot.objects.create(tenant=world.tenant_b, name="b", account=keyless, symbol="BTC/USDT",
                       timeframe="1m", strategy="sma_cross")
    other = _live_account(world.tenant_b, label="theirs")
    theirs = Bot.objects.create(tenant=world.tenant_b, name="theirs", account=other,
                                symbol="ETH/USDT", timeframe="1m", strategy="sma_cross")
    _trade(bot, "buy", "0.02")
    binance_live.set_balance("BTC", "0")
    assert reconcile_live_accounts() == 2  # tasks run eagerly here
    assert _status(bot) == Bot.Status.PAUSED
    assert _status(theirs) == Bot.Status.RUNNING  # their ledger holds nothing: no drift


def test_a_stopped_bots_coins_are_the_customers_to_sell(world, account, bot, binance_live):
    _trade(bot, "buy", "0.02")
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.STOPPED)
    running = Bot.objects.create(tenant=world.tenant_a, name="still running", account=account,
                                 symbol="BTC/USDT", timeframe="1m", strategy="sma_cross")
    binance_live.set_balance("BTC", "0")  # sold by hand after stopping the bot
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert report.drifts == [] and _status(running) == Bot.Status.RUNNING


def test_an_account_whose_keys_cannot_be_opened_gives_no_verdict(world, account, bot,
                                                                 binance_live, settings):
    _trade(bot, "buy", "0.02")
    binance_live.set_balance("BTC", "0")
    settings.AITRADER_VAULT_KEYS = [f"other:{encode_key(bytes(32))}"]  # not the key they use
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert "vault could not open" in report.error and report.drifts == []
    assert _status(bot) == Bot.Status.RUNNING


def test_an_account_deleted_since_the_run_was_queued_is_skipped(world):
    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=987654)
    assert (report.checked, report.drifts, report.error) == ([], [], "")


def _reconcile_command(*args: str) -> str:
    out = io.StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_each_account_and_fails_on_drift(world, account, bot, binance_live):
    _trade(bot, "buy", "0.02")
    assert "checked BTC" in _reconcile_command()
    binance_live.set_balance("BTC", "0.01")
    with pytest.raises(CommandError, match="1 account"):
        _reconcile_command("--account", str(account.pk))
    assert _status(bot) == Bot.Status.PAUSED
    assert "No live account" in _reconcile_command("--account", "987654")


def test_each_run_keeps_its_outcome_where_the_tenant_sees_it(world, account, bot,
                                                             binance_live):
    _trade(bot, "buy", "0.02")
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    kept = ExchangeAccount.objects.get(pk=account.pk)
    assert (kept.reconcile_status, kept.reconcile_detail) == ("ok", "checked BTC")
    binance_live.set_balance("BTC", "0.012")
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    page = world.client_for(world.alice).get("/settings/").content.decode()
    assert "Drift" in page and "the exchange holds 0.012 BTC" in page
    api = world.client_with_key(world.read_key_a).get(f"/api/v1/exchange-accounts/{account.pk}/")
    assert api.json()["reconcile_status"] == "drift"
    assert api.json()["reconciled_at"] is not None
    binance_live.server_error_next("/api/v3/myTrades", times=10)
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    assert ExchangeAccount.objects.get(pk=account.pk).reconcile_status == "error"
