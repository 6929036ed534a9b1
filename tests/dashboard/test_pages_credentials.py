"""Live accounts and their exchange keys from the settings page: verified at the exchange (the
Binance stand-in), stored in the vault, never rendered back, admins only."""
from __future__ import annotations

import pytest

from tenants.models import Role
from tests.base import PASSWORD, owner_actor
from tests.dashboard.conftest import member_client
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.models import ExchangeAccount, TradingMode
from trading.services.accounts import exchange_account_create

SETTINGS = "/settings/"


@pytest.fixture
def live_account(world) -> ExchangeAccount:
    return exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                   label="Main", exchange_id="binance", mode=TradingMode.LIVE)


def _keys(account: ExchangeAccount, password: str = PASSWORD) -> tuple[str, dict]:
    return (f"/settings/exchange-accounts/{account.pk}/credentials/",
            {"api_key": DEFAULT_API_KEY, "secret": DEFAULT_SECRET, "password": password})


def _has_keys(account: ExchangeAccount) -> bool:
    account.refresh_from_db()
    return account.has_credentials


def test_an_admin_adds_a_live_account_whose_row_asks_for_keys(world):
    client = world.client_for(world.alice)
    response = client.post("/settings/exchange-accounts/live/",
                           {"live-label": "Main", "live-exchange_id": "binance"}, follow=True)
    assert "Live account Main is added" in response.content.decode()
    account = ExchangeAccount.objects.for_tenant(world.tenant_a).get(label="Main")
    assert account.mode == TradingMode.LIVE and not account.has_credentials
    page = response.content.decode()
    assert "missing" in page and "Set keys" in page
    assert f"/settings/exchange-accounts/{account.pk}/credentials/" in page


def test_a_duplicate_label_is_shown_on_the_form(world, live_account):
    response = world.client_for(world.alice).post(
        "/settings/exchange-accounts/live/", {"live-label": "Main", "live-exchange_id": "binance"})
    assert response.status_code == 200
    assert "exists already" in response.content.decode()
    assert ExchangeAccount.objects.for_tenant(world.tenant_a).filter(label="Main").count() == 1


def test_verified_keys_are_stored_and_never_shown(world, binance_live, live_account):
    url, body = _keys(live_account)
    response = world.client_for(world.alice).post(url, body, follow=True)
    page = response.content.decode()
    assert "verified and stored encrypted" in page and "Replace keys" in page
    assert DEFAULT_API_KEY not in page and DEFAULT_SECRET not in page
    assert _has_keys(live_account)


def test_a_wrong_password_saves_nothing_and_echoes_nothing(world, binance_live, live_account):
    url, body = _keys(live_account, password="not-my-password")
    response = world.client_for(world.alice).post(url, body)
    page = response.content.decode()
    assert response.status_code == 200
    assert "password was not confirmed" in page
    assert DEFAULT_API_KEY not in page and DEFAULT_SECRET not in page
    assert "not-my-password" not in page
    assert f'id="id_keys{live_account.pk}_password"' in page, "the refused form reopens"
    assert not _has_keys(live_account)


def test_keys_that_can_withdraw_are_refused_with_the_reason(world, binance_live, live_account):
    binance_live.set_permissions(enableWithdrawals=True)
    url, body = _keys(live_account)
    response = world.client_for(world.alice).post(url, body)
    assert "withdraw" in response.content.decode()
    assert not _has_keys(live_account)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_below_admin_the_keys_are_refused_with_a_message(world, binance_live, live_account, role):
    client = member_client(world.tenant_a, role)
    url, body = _keys(live_account)
    page = client.post(url, body, follow=True).content.decode()
    assert "cannot do this; it needs admin or above." in page
    assert f"/settings/exchange-accounts/{live_account.pk}/credentials/" not in page
    assert not _has_keys(live_account)


def test_an_admin_deletes_the_keys_in_one_step(world, binance_live, live_account):
    client = world.client_for(world.alice)
    client.post(*_keys(live_account))
    assert _has_keys(live_account)
    response = client.post(f"/settings/exchange-accounts/{live_account.pk}/credentials/remove/",
                           follow=True)
    assert "The keys of Main are deleted." in response.content.decode()
    assert not _has_keys(live_account)


def test_another_tenants_account_is_a_404(world, binance_live, live_account):
    client = world.client_for(world.charlie)
    assert client.post(*_keys(live_account)).status_code == 404
    assert _has_keys(live_account) is False
