"""README's scope table, row by row: what each key scope may do, and what needs a person.

| scope | may | may not |
| read | every list and detail; export on a plan with exports | control, admin actions |
| export | export/trades.csv on a plan with exports | read lists |
| control | pause / resume / close all, bot create | admin actions |
| admin | all a key may do: exchange accounts, credentials, members, Telegram | key management |
"""
from __future__ import annotations

import pytest

from tenants.models import Tenant
from tenants.plans import Plan
from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.dashboard.conftest import paper_bot

EXPORT = "/api/v1/export/trades.csv"
ACCOUNT = {"label": "by a program", "exchange_id": "binance", "mode": "paper"}
LINK_CODES = "/api/v1/telegram/link-codes/"
ALICE = {"email": "alice@example.com"}


@pytest.fixture
def client_with(world):
    def make(*scopes):
        _, full_key = api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                    name="-".join(scopes), scopes=list(scopes))
        return world.client_with_key(full_key)
    return make


@pytest.fixture
def bot(world, market):
    return paper_bot(world.tenant_a)


def test_read_lists_reads_details_and_exports_on_pro_but_controls_nothing(client_with, bot):
    client = client_with("read")
    assert client.get("/api/v1/bots/").status_code == 200
    assert client.get(f"/api/v1/bots/{bot.pk}/").status_code == 200
    assert client.get(EXPORT).status_code == 200
    assert client.post(f"/api/v1/bots/{bot.pk}/pause/").status_code == 403
    assert client.post("/api/v1/exchange-accounts/", ACCOUNT, format="json").status_code == 403


def test_export_exports_and_reads_nothing_else(client_with, bot):
    client = client_with("export")
    assert client.get(EXPORT).status_code == 200
    assert client.get("/api/v1/bots/").status_code == 403


def test_every_scope_meets_the_plans_refusal_on_free(world, client_with, bot):
    clients = [client_with(scope) for scope in ("read", "export", "admin")]
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    assert [client.get(EXPORT).status_code for client in clients] == [402, 402, 402]


def test_control_controls_bots_but_not_accounts(client_with, bot):
    client = client_with("control")
    assert client.post(f"/api/v1/bots/{bot.pk}/pause/").status_code == 200
    assert client.post("/api/v1/exchange-accounts/", ACCOUNT, format="json").status_code == 403
    assert client.post(LINK_CODES, ALICE, format="json").status_code == 403


def test_admin_creates_an_exchange_account_but_never_manages_keys(client_with, bot):
    client = client_with("admin")
    created = client.post("/api/v1/exchange-accounts/", ACCOUNT, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["label"] == "by a program"
    assert client.post(LINK_CODES, ALICE, format="json").status_code == 201
    assert client.post(f"/api/v1/bots/{bot.pk}/pause/").status_code == 200
    refused = client.post("/api/v1/api-keys/", {"name": "child", "scopes": ["read"]},
                          format="json")
    assert refused.status_code == 403 and "signed-in" in refused.json()["error"]["message"]
