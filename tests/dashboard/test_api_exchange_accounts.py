"""/api/v1/exchange-accounts/: admins add accounts; secrets never leave the server."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tenants.models import AuditEvent, Role, Tenant
from tenants.plans import Plan
from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.dashboard.conftest import member_client
from trading.models import ExchangeAccount, PaperBalance, TradingMode

ACCOUNTS = "/api/v1/exchange-accounts/"
PAPER = {"label": "Paper desk", "exchange_id": "binance", "mode": "paper",
         "paper_starting_balance": "2500", "quote_currency": "usdt"}
PUBLIC_FIELDS = {"id", "label", "exchange_id", "mode", "has_credentials", "quote_currency",
                 "paper_starting_balance", "maker_fee", "taker_fee", "slippage", "created_at",
                 "reconciled_at", "reconcile_status", "reconcile_detail", "balances",
                 "balances_at"}
SECRET_REF = "vault:tenant-a/binance-live-credentials"


@pytest.fixture
def admin(world):
    return member_client(world.tenant_a, Role.ADMIN)


def test_an_admin_creates_a_paper_account_with_its_balance(world, admin):
    response = admin.post(ACCOUNTS, PAPER, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert (body["label"], body["mode"], body["quote_currency"]) == ("Paper desk", "paper",
                                                                     "USDT")
    account = ExchangeAccount.objects.for_tenant(world.tenant_a).get(pk=body["id"])
    balance = PaperBalance.objects.get(account=account, currency="USDT")
    assert balance.free == Decimal("2500")
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action="exchange_account.create", target="Paper desk").exists()


def test_an_owner_creates_an_account(world):
    response = world.client_for(world.alice).post(ACCOUNTS, PAPER, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_a_viewer_or_trader_session_cannot_create_an_account(world, role):
    response = member_client(world.tenant_a, role).post(ACCOUNTS, PAPER, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ExchangeAccount.objects.exists()


def test_only_a_key_with_the_admin_scope_creates_an_account(world):
    _row, admin_key = api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                    name="admin", scopes=["read", "admin"])
    refused = world.client_with_key(world.control_key_a).post(ACCOUNTS, PAPER, format="json")
    assert refused.status_code == 403
    assert not ExchangeAccount.objects.exists()
    created = world.client_with_key(admin_key).post(ACCOUNTS, PAPER, format="json")
    assert created.status_code == 201
    assert ExchangeAccount.objects.for_tenant(world.tenant_a).count() == 1


def test_a_live_account_needs_the_pro_plan(world, admin):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    response = admin.post(ACCOUNTS, PAPER | {"mode": "live"}, format="json")
    assert response.status_code == 402
    assert "Pro" in response.json()["error"]["message"]
    assert not ExchangeAccount.objects.exists()


def test_a_pro_tenant_adds_a_live_account(admin):
    response = admin.post(ACCOUNTS, PAPER | {"mode": "live"}, format="json")
    assert response.status_code == 201
    assert response.json()["mode"] == "live"
    assert not PaperBalance.objects.exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"exchange_id": "mtgox"}, "exchange_id"),
    ({"mode": "margin"}, "mode"),
    ({"paper_starting_balance": "0"}, "paper_starting_balance"),
    ({"label": ""}, "label"),
])
def test_bad_input_is_a_400_naming_the_field(admin, change, field):
    response = admin.post(ACCOUNTS, PAPER | change, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not ExchangeAccount.objects.exists()


def test_a_duplicate_label_is_a_conflict(admin):
    admin.post(ACCOUNTS, PAPER, format="json")
    response = admin.post(ACCOUNTS, PAPER, format="json")
    assert response.status_code == 409
    assert ExchangeAccount.objects.count() == 1


def test_responses_never_carry_the_credential_reference(world, admin):
    account = ExchangeAccount.objects.create(tenant=world.tenant_a, label="live",
                                             mode=TradingMode.LIVE, credential_ref=SECRET_REF)
    reader = world.client_with_key(world.read_key_a)
    listed = reader.get(ACCOUNTS)
    detail = reader.get(f"{ACCOUNTS}{account.pk}/")
    created = admin.post(ACCOUNTS, PAPER, format="json")
    for response in (listed, detail, created):
        assert response.status_code in (200, 201)
        text = response.content.decode()
        assert SECRET_REF not in text
        for word in ("credential_ref", "secret", "api_key", "ciphertext", "password"):
            assert word not in text
    assert detail.json()["has_credentials"] is True
    assert set(detail.json()) == PUBLIC_FIELDS


def test_secret_looking_input_is_ignored_not_stored(admin):
    response = admin.post(ACCOUNTS, PAPER | {"credential_ref": SECRET_REF, "secret": "s3cr3t"},
                          format="json")
    assert response.status_code == 201
    assert ExchangeAccount.objects.get().credential_ref == ""
    assert "s3cr3t" not in response.content.decode()


def test_a_read_key_lists_the_tenants_accounts_by_label(world, admin):
    for label in ("b", "a"):
        admin.post(ACCOUNTS, PAPER | {"label": label}, format="json")
    ExchangeAccount.objects.create(tenant=world.tenant_b, label="theirs")
    body = world.client_with_key(world.read_key_a).get(ACCOUNTS).json()
    assert [row["label"] for row in body["results"]] == ["a", "b"]


def test_the_account_list_costs_a_fixed_number_of_queries(world, django_assert_num_queries):
    reader = world.client_with_key(world.read_key_a)
    ExchangeAccount.objects.create(tenant=world.tenant_a, label="first")
    reader.get(ACCOUNTS)
    with django_assert_num_queries(3):
        reader.get(ACCOUNTS)
    for n in range(29):
        ExchangeAccount.objects.create(tenant=world.tenant_a, label=f"acct {n}")
    with django_assert_num_queries(3):
        assert reader.get(ACCOUNTS).json()["count"] == 30
