"""Exchange balances of live accounts: pulled by each reconciliation through the real ccxt
client from the Binance stand-in, kept exactly (Decimal strings), and shown beside the bots
that use the account: on the overview, the bot page, the settings page and in the API."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading import selectors
from trading.models import Bot, ExchangeAccount
from trading.services.accounts import exchange_account_create
from trading.services.credentials import exchange_credentials_save
from trading.services.reconciliation import reconcile_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(world, binance_live) -> ExchangeAccount:
    tenant, actor = world.tenant_a, owner_actor(world.tenant_a)
    account = exchange_account_create(tenant=tenant, actor=actor, label="main",
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=tenant, actor=actor, account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    binance_live.set_balance("BTC", "0.12345678")
    binance_live.set_balance("USDT", "1234.5")
    binance_live.set_balance("ETH", "0")
    return ExchangeAccount.objects.get(pk=account.pk)


@pytest.fixture
def bot(world, account) -> Bot:
    return Bot.objects.create(tenant=world.tenant_a, name="live", account=account,
                              symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 3, "slow": 8})


def test_a_reconciliation_keeps_the_accounts_balances_exactly(world, account, bot):
    assert selectors.account_balances(account=account) == []

    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)

    account.refresh_from_db()
    rows = {row.currency: row for row in selectors.account_balances(account=account)}
    assert rows["BTC"].total == Decimal("0.12345678")
    assert rows["USDT"].free == Decimal("1234.5")
    assert "ETH" not in rows  # nothing held: not listed
    assert account.balances_at is not None


def test_a_failed_pull_keeps_the_last_balances(world, account, bot, binance_live):
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    kept = ExchangeAccount.objects.get(pk=account.pk).balances_at
    binance_live.server_error_next("/api/v3/account", times=10)

    report = reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)

    assert report.error
    account.refresh_from_db()
    assert account.balances_at == kept
    assert selectors.account_balances(account=account)[0].currency == "BTC"


def test_the_bot_page_and_overview_show_the_accounts_balances(world, client, account, bot):
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    client.force_login(world.alice)

    page = client.get(reverse("dashboard:bot_detail", args=[bot.pk])).content.decode()
    overview = client.get(reverse("dashboard:overview")).content.decode()

    for html in (page, overview):
        assert "0.12345678 BTC" in html
        assert "1,234.50 USDT" in html


def test_the_api_lists_the_balances_as_exact_strings(world, account, bot):
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    body = world.client_with_key(world.read_key_a).get(
        f"/api/v1/exchange-accounts/{account.pk}/").json()
    assert body["balances"]["BTC"] == {"free": "0.12345678", "used": "0", "total": "0.12345678"}
    assert body["balances_at"]


def test_another_tenants_balances_stay_theirs(world, account, bot):
    reconcile_account(tenant_id=world.tenant_a.pk, account_id=account.pk)
    response = world.client_with_key(world.read_key_b).get(
        f"/api/v1/exchange-accounts/{account.pk}/")
    assert response.status_code == 404
