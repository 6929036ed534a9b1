"""Saving and removing exchange credentials: re-authentication, plan, verification through
ccxt against the Binance stand-in, refusal of withdrawal keys, warnings, vault storage, audit.
"""
from __future__ import annotations

import pytest

from aitrader.errors import Forbidden, NotFound, PlanLimitExceeded, ValidationFailed
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, VaultEntry
from tenants.plans import Plan
from tenants.vault import load_secret, secret_exists
from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.exchanges.base import AccountPermissions
from trading.exchanges.live_clients import (
    live_exchange_for_account,
)
from trading.models import ExchangeAccount
from trading.services.accounts import exchange_account_create
from trading.services.credentials import (
    ExchangeUnavailable,
    _warnings,
    exchange_credentials_remove,
    exchange_credentials_save,
)

RESTRICTIONS = "/sapi/v1/account/apiRestrictions"


@pytest.fixture
def account(world) -> ExchangeAccount:
    return exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                   label="binance live", exchange_id="binance", mode="live")


def save(world, account, *, actor=None, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET,
         password=PASSWORD, tenant=None):
    return exchange_credentials_save(
        tenant=tenant or world.tenant_a, actor=actor or owner_actor(world.tenant_a),
        account_id=account.pk, api_key=api_key, secret=secret, password=password)


def refreshed(account: ExchangeAccount) -> ExchangeAccount:
    return ExchangeAccount.objects.get(pk=account.pk)


def assert_nothing_saved(account: ExchangeAccount) -> None:
    assert refreshed(account).credential_ref == ""
    assert not secret_exists(account.tenant_id, f"exchange-account-{account.pk}",
                             field="secret")
    assert not AuditEvent.objects.filter(action="exchange_account.credentials_set").exists()


# --- Saving ----------------------------------------------------------------------------------


def test_it_verifies_and_stores_the_keys_in_the_vault(world, binance_live, account):
    result = save(world, account)
    account = refreshed(account)
    assert account.credential_ref == f"exchange-account-{account.pk}"
    assert load_secret(world.tenant_a, account.credential_ref, field="api_key") == \
        DEFAULT_API_KEY
    assert load_secret(world.tenant_a, account.credential_ref, field="secret") == DEFAULT_SECRET
    assert result.permissions == AccountPermissions(can_trade=True, can_withdraw=False,
                                                    ip_restricted=False)
    assert binance_live.request_count(RESTRICTIONS) == 1  # verified through ccxt, signed


def test_it_writes_an_audit_row_without_the_secret(world, binance_live, account):
    save(world, account)
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(
        action="exchange_account.credentials_set")
    assert event.actor_user == world.alice and event.target == "binance live"
    assert event.details["api_key_hint"] == f"…{DEFAULT_API_KEY[-4:]}"
    assert event.details["can_withdraw"] is False
    assert DEFAULT_SECRET not in str(event.details) and DEFAULT_API_KEY not in str(event.details)


def test_the_saved_keys_sign_the_accounts_live_exchange(world, binance_live, account):
    save(world, account)
    exchange = live_exchange_for_account(refreshed(account))
    assert exchange.fetch_balance()["USDT"].free == 100000


def test_it_replaces_keys_saved_before(world, binance_live, account):
    save(world, account)
    binance_live.keys["second-key-abcdef"] = "second-secret-abcdef"
    save(world, account, api_key="second-key-abcdef", secret="second-secret-abcdef")
    reference = refreshed(account).credential_ref
    assert load_secret(world.tenant_a, reference, field="secret") == "second-secret-abcdef"
    assert live_exchange_for_account(refreshed(account)).fetch_balance()


def test_it_refuses_keys_the_exchange_rejects(world, binance_live, account):
    with pytest.raises(ValidationFailed, match="refused these API keys"):
        save(world, account, secret="not-the-right-secret")
    assert_nothing_saved(account)


def test_it_refuses_keys_that_can_withdraw(world, binance_live, account):
    binance_live.set_permissions(enableWithdrawals=True)
    with pytest.raises(ValidationFailed, match="can withdraw funds") as caught:
        save(world, account)
    assert "withdrawals disabled" in caught.value.message
    assert caught.value.field == "api_key"
    assert_nothing_saved(account)


def test_it_refuses_keys_that_cannot_trade(world, binance_live, account):
    binance_live.set_permissions(enableSpotAndMarginTrading=False)
    with pytest.raises(ValidationFailed, match="cannot trade"):
        save(world, account)
    assert_nothing_saved(account)


def test_it_warns_when_no_ip_restriction_is_reported(world, binance_live, account):
    result = save(world, account)
    assert len(result.warnings) == 1 and "no IP restriction" in result.warnings[0]


def test_it_does_not_warn_about_an_ip_restricted_key(world, binance_live, account):
    binance_live.set_permissions(ipRestrict=True)
    assert save(world, account).warnings == []


def test_it_warns_when_the_exchange_does_not_report_withdrawal_rights():
    warnings = _warnings("kraken", AccountPermissions(None, None, None))
    assert any("does not report whether this key can withdraw" in w for w in warnings)
    assert any("no IP restriction" in w for w in warnings)


def test_it_saves_nothing_when_the_exchange_is_down(world, binance_live, account):
    binance_live.server_error_next(RESTRICTIONS)
    with pytest.raises(ExchangeUnavailable) as caught:
        save(world, account)
    assert caught.value.status_code == 503
    assert_nothing_saved(account)


# --- Who may save ------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["wrong-password", "", None])
def test_it_requires_the_current_password(world, binance_live, account, password):
    with pytest.raises(Forbidden, match="password") as caught:
        save(world, account, password=password)
    assert caught.value.field == "password"
    assert binance_live.request_count() == 0  # the keys are not even sent to the exchange
    assert_nothing_saved(account)


def test_an_api_key_cannot_save_credentials(world, binance_live, account):
    key_actor = Actor.for_key(world.key_row(world.control_key_a))
    with pytest.raises(Forbidden):
        save(world, account, actor=key_actor)
    assert_nothing_saved(account)


def test_a_viewer_cannot_save_credentials(world, binance_live, account):
    bob = Actor.for_member(Membership.objects.get(tenant=world.tenant_a, user=world.bob))
    with pytest.raises(Forbidden):
        save(world, account, actor=bob)  # bob's password is the same: the role decides
    assert_nothing_saved(account)


def test_it_needs_a_plan_with_live_trading(world, binance_live, account):
    world.tenant_a.plan = Plan.FREE
    world.tenant_a.save()
    with pytest.raises(PlanLimitExceeded, match="Pro plan"):
        save(world, account)
    assert_nothing_saved(account)


def test_another_tenants_account_is_not_found(world, binance_live, account):
    with pytest.raises(NotFound):
        save(world, account, tenant=world.tenant_b, actor=owner_actor(world.tenant_b))
    assert binance_live.request_count() == 0
    assert_nothing_saved(account)


@pytest.mark.parametrize("api_key, secret", [("", DEFAULT_SECRET), (DEFAULT_API_KEY, "  "),
                                             ("two words", DEFAULT_SECRET),
                                             (DEFAULT_API_KEY, "x" * 513)])
def test_it_refuses_malformed_keys_without_echoing_them(world, binance_live, account, api_key,
                                                         secret):
    with pytest.raises(ValidationFailed) as caught:
        save(world, account, api_key=api_key, secret=secret)
    assert (api_key.strip() or "§") not in caught.value.message
    assert (secret.strip() or "§") not in caught.value.message
    assert binance_live.request_count() == 0


# --- Removing ----------------------------------------------------------------------------------


def test_it_removes_credentials_from_the_vault(world, binance_live, account):
    save(world, account)
    reference = refreshed(account).credential_ref
    exchange_credentials_remove(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                account_id=account.pk)
    assert refreshed(account).credential_ref == ""
    assert not secret_exists(world.tenant_a, reference, field="api_key")
    assert not secret_exists(world.tenant_a, reference, field="secret")
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action="exchange_account.credentials_removed", target="binance live").count() == 1


def test_removing_twice_is_harmless(world, binance_live, account):
    save(world, account)
    for _ in range(2):
        exchange_credentials_remove(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                    account_id=account.pk)
    assert AuditEvent.objects.filter(action="exchange_account.credentials_removed").count() == 1


def test_removing_works_after_a_downgrade(world, binance_live, account):
    save(world, account)
    world.tenant_a.plan = Plan.FREE
    world.tenant_a.save()
    exchange_credentials_remove(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                account_id=account.pk)
    assert refreshed(account).credential_ref == ""


def test_a_viewer_or_another_tenant_cannot_remove(world, binance_live, account):
    save(world, account)
    bob = Actor.for_member(Membership.objects.get(tenant=world.tenant_a, user=world.bob))
    with pytest.raises(Forbidden):
        exchange_credentials_remove(tenant=world.tenant_a, actor=bob, account_id=account.pk)
    with pytest.raises(NotFound):
        exchange_credentials_remove(tenant=world.tenant_b, actor=owner_actor(world.tenant_b),
                                    account_id=account.pk)
    assert refreshed(account).credential_ref != ""


def test_a_live_account_without_saved_keys_cannot_build_an_exchange(world, account):
    with pytest.raises(ValidationFailed, match="no API credentials"):
        live_exchange_for_account(account)


def test_a_live_account_whose_vault_entry_is_gone_says_so(world, binance_live, account):
    save(world, account)
    account = refreshed(account)
    VaultEntry.objects.for_tenant(world.tenant_a).filter(name=account.credential_ref).delete()
    with pytest.raises(ValidationFailed, match="missing from the vault"):
        live_exchange_for_account(account)
