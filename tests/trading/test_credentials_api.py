"""POST/DELETE /api/v1/exchange-accounts/{id}/credentials/: write-only, re-authenticated,
verified at the exchange (the Binance stand-in), never echoed back."""
from __future__ import annotations

import pytest

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.models import ExchangeAccount
from trading.services.accounts import exchange_account_create


@pytest.fixture
def live_account(world) -> ExchangeAccount:
    return exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                   label="live", exchange_id="binance", mode="live")


def _url(account: ExchangeAccount) -> str:
    return f"/api/v1/exchange-accounts/{account.pk}/credentials/"


def _body(password: str = PASSWORD) -> dict:
    return {"api_key": DEFAULT_API_KEY, "secret": DEFAULT_SECRET, "password": password}


def test_an_admin_saves_verified_credentials_that_are_never_echoed(world, binance_live,
                                                                  live_account):
    response = world.client_for(world.alice).post(_url(live_account), _body(), format="json")
    assert response.status_code == 200
    assert response.json()["account"]["has_credentials"] is True
    assert DEFAULT_SECRET not in response.content.decode()
    assert DEFAULT_API_KEY not in response.content.decode()
    assert isinstance(response.json()["warnings"], list)


def test_a_wrong_password_saves_nothing(world, binance_live, live_account):
    response = world.client_for(world.alice).post(_url(live_account), _body("wrong-password"),
                                                  format="json")
    assert response.status_code in (400, 403)
    live_account.refresh_from_db()
    assert not live_account.has_credentials


def test_keys_that_can_withdraw_are_refused(world, binance_live, live_account):
    binance_live.set_permissions(enableWithdrawals=True)
    response = world.client_for(world.alice).post(_url(live_account), _body(), format="json")
    assert response.status_code == 400 and "withdraw" in response.json()["error"]["message"]


def test_an_api_key_cannot_set_credentials(world, binance_live, live_account):
    response = world.client_with_key(world.control_key_a).post(_url(live_account), _body(),
                                                               format="json")
    assert response.status_code == 403


def test_a_viewer_cannot_set_credentials(world, binance_live, live_account):
    response = world.client_for(world.bob).post(_url(live_account), _body(), format="json")
    assert response.status_code == 403


def test_removing_credentials_empties_the_account(world, binance_live, live_account):
    client = world.client_for(world.alice)
    client.post(_url(live_account), _body(), format="json")
    response = client.delete(_url(live_account))
    assert response.status_code == 200 and response.json()["has_credentials"] is False
