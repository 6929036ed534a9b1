"""A new bot trades on paper unless the user picks a live account, and a bot on a live account
without API credentials is refused with a clear error on every surface (never a 500)."""
from __future__ import annotations

import re

from django.urls import reverse

from tenants.models import Role
from tests.dashboard.conftest import member_client
from trading.models import Bot, ExchangeAccount, TradingMode

BOTS = "/api/v1/bots/"


def _selected_account(html: str) -> str | None:
    select = re.search(r'<select name="account"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, "the bot form has no account list"
    chosen = re.search(r'<option value="([^"]*)"[^>]*\bselected\b', select.group(1))
    return chosen.group(1) if chosen else None


def _account(tenant, label: str, mode: str, *, credentials: bool = True) -> ExchangeAccount:
    return ExchangeAccount.objects.create(
        tenant=tenant, label=label, mode=mode,
        credential_ref="exchange-account-keys" if credentials and mode == TradingMode.LIVE
        else "")


def _form(account, **overrides) -> dict:
    return {"name": "trend", "account": str(account), "symbol": "BTC/USDT", "timeframe": "1m",
            "strategy": "sma_cross", "preset": "balanced", "capital": "750"} | overrides


def test_the_form_preselects_the_paper_account_even_when_a_live_one_sorts_first(world, alice):
    _account(world.tenant_a, "Live", TradingMode.LIVE)  # "Live" < "Paper" by label
    paper = _account(world.tenant_a, "Paper", TradingMode.PAPER)
    html = alice.get(reverse("dashboard:overview")).content.decode()
    assert _selected_account(html) == str(paper.pk)


def test_with_only_a_live_account_an_admin_gets_a_new_paper_account_by_default(world, alice):
    _account(world.tenant_a, "Live", TradingMode.LIVE)
    html = alice.get(reverse("dashboard:overview")).content.decode()
    assert _selected_account(html) == "new-paper"


def test_with_only_a_live_account_a_trader_must_pick_it_explicitly(world, market):
    live = _account(world.tenant_a, "Live", TradingMode.LIVE)
    trader = member_client(world.tenant_a, Role.TRADER)
    html = trader.get(reverse("dashboard:overview")).content.decode()
    assert _selected_account(html) in (None, "")  # nothing live is chosen for them
    response = trader.post(reverse("dashboard:bot_new"), _form(""))
    assert response.status_code == 200
    assert "account" in response.context["form"].errors
    assert not Bot.objects.exists()
    response = trader.post(reverse("dashboard:bot_new"), _form(live.pk))
    assert response.status_code == 302  # picked on purpose: allowed
    assert Bot.objects.get().account_id == live.pk


def test_the_form_refuses_a_live_account_without_credentials_with_a_clear_error(world, alice):
    bare = _account(world.tenant_a, "Live", TradingMode.LIVE, credentials=False)
    response = alice.post(reverse("dashboard:bot_new"), _form(bare.pk))
    assert response.status_code == 200
    assert "no API credentials" in response.content.decode()
    assert not Bot.objects.exists()


def test_the_api_refuses_a_live_account_without_credentials_with_a_400(world):
    bare = _account(world.tenant_a, "Live", TradingMode.LIVE, credentials=False)
    response = world.client_with_key(world.control_key_a).post(BOTS, {
        "name": "trend", "account": bare.pk, "symbol": "BTC/USDT", "strategy": "sma_cross"},
        format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "no API credentials" in error["message"]
    assert "credentials" in error["fields"]
    assert not Bot.objects.exists()


def test_the_api_requires_an_explicit_account(world):
    _account(world.tenant_a, "Live", TradingMode.LIVE)
    response = world.client_with_key(world.control_key_a).post(BOTS, {
        "name": "trend", "symbol": "BTC/USDT", "strategy": "sma_cross"}, format="json")
    assert response.status_code == 400
    assert "account" in response.json()["error"]["fields"]
    assert not Bot.objects.exists()
