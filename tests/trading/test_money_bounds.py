"""Money values have one set of bounds (trading.core.money) on every surface, and a value stored
around them never takes a page, the API, the admin or a tick batch down.

Surfaces: the web forms, the REST API, the Django admin's forms, the services themselves and
the backtest settings (CLI, API and page share them).
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from aitrader.errors import ValidationFailed
from tenants.models import User
from tests.base import client_past_second_factor, owner_actor
from tests.trading.conftest import make_paper_bot
from trading.core import money
from trading.core.backtest.config import BacktestConfig
from trading.engine import run_ticks
from trading.models import Bot, ExchangeAccount, PaperBalance, Thought
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create, bot_update

pytestmark = pytest.mark.django_db

# (entered value, inside the bounds?) for capital and paper balances: (0, 10^12], 8 places.
AMOUNT_CASES = [
    ("1000000000000", True), ("0.00000001", True), ("2500.12345678", True),
    ("1000000000000.00000001", False), ("1000000000001", False), ("1e18", False),
    ("0.000000001", False), ("0", False), ("-5", False), ("12.5abc", False),
]
# Maximum order value: [0, 10^12], 8 places (0 allows sells of what the bot holds only).
ORDER_VALUE_CASES = [("0", True), ("1000000000000", True), ("1000000000000.01", False),
                     ("-1", False), ("1.000000001", False)]
FEE_CASES = [("0", True), ("0.1", True), ("0.000001", True), ("0.100001", False),
             ("0.0000001", False), ("-0.001", False)]


@pytest.fixture
def account(world) -> ExchangeAccount:
    return exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                   label="paper", exchange_id="binance")


@pytest.fixture
def bot(world, account) -> Bot:
    return bot_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), name="b",
                      account_id=account.pk, symbol="BTC/USDT", timeframe="1m",
                      strategy="sma_cross", parameters={"fast": 3, "slow": 8})


@pytest.fixture
def superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root@example.com", "root-pass-phrase-1")
    return request


def _admin_errors(request, instance, field: str, value: str) -> list[str]:
    """The errors the admin's own change form gives `field` = `value` on `instance`."""
    model_admin = admin.site._registry[type(instance)]
    form_class = model_admin.get_form(request, instance)
    form = form_class(data={field: value}, instance=instance)
    form.is_valid()
    return form.errors.get(field, [])


# --- one set of bounds, every surface ---------------------------------------------------------

@pytest.mark.parametrize(("value", "inside"), AMOUNT_CASES)
def test_capital_has_the_same_bounds_on_every_surface(world, account, bot, client,
                                                      superuser_request, value, inside):
    actor = owner_actor(world.tenant_a)
    client.force_login(world.alice)
    page = client.post(reverse("dashboard:bot_new"), {
        "name": "form-bot", "account": account.pk, "symbol": "BTC/USDT", "timeframe": "1m",
        "strategy": "sma_cross", "preset": "balanced", "capital": value})
    api = world.client_with_key(world.control_key_a)
    created = api.post("/api/v1/bots/", {
        "name": "api-bot", "account": account.pk, "symbol": "BTC/USDT", "timeframe": "1m",
        "strategy": "sma_cross", "parameters": {"fast": 3, "slow": 8}, "capital": value},
        format="json")
    updated = api.patch(f"/api/v1/bots/{bot.pk}/", {"capital": value}, format="json")
    try:
        bot_create(tenant=world.tenant_a, actor=actor, name="service-bot",
                   account_id=account.pk, symbol="BTC/USDT", timeframe="1m",
                   strategy="sma_cross", parameters={"fast": 3, "slow": 8}, capital=value)
        service = True
    except ValidationFailed as exc:
        assert exc.field == "capital"
        service = False
    accepted = {
        "form": page.status_code == 302,
        "api create": created.status_code == 201,
        "api update": updated.status_code == 200,
        "service": service,
        "admin": not _admin_errors(superuser_request, bot, "capital", value),
    }
    assert accepted == dict.fromkeys(accepted, inside)
    if not inside:  # refused with a reason next to the field, never a 500
        assert page.status_code == 200
        assert list(created.json()["error"]["fields"]) == ["capital"]
        assert list(updated.json()["error"]["fields"]) == ["capital"]
    stored = set(Bot.objects.filter(tenant=world.tenant_a).values_list("capital", flat=True))
    assert all(money.CAPITAL.problem(each) is None for each in stored)


@pytest.mark.parametrize(("value", "inside"), AMOUNT_CASES)
def test_paper_balance_has_the_same_bounds_on_every_surface(world, account, client,
                                                            superuser_request, value, inside):
    client.force_login(world.alice)
    page = client.post(reverse("dashboard:exchange_account_new"), {
        "label": "form-paper", "exchange_id": "binance", "paper_starting_balance": value,
        "quote_currency": "USDT"})
    api = world.client_for(world.alice).post("/api/v1/exchange-accounts/", {
        "label": "api-paper", "paper_starting_balance": value}, format="json")
    try:
        exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                label="service-paper", exchange_id="binance",
                                paper_starting_balance=value)
        service = True
    except ValidationFailed as exc:
        assert exc.field == "paper_starting_balance"
        service = False
    page_created = ExchangeAccount.objects.filter(label="form-paper").exists()
    accepted = {
        "form": page_created,
        "api": api.status_code == 201,
        "service": service,
        "admin": not _admin_errors(superuser_request, account, "paper_starting_balance",
                                   value),
    }
    assert accepted == dict.fromkeys(accepted, inside)
    assert page.status_code in (200, 302)
    if not inside:
        assert api.status_code == 400


@pytest.mark.parametrize(("value", "inside"), ORDER_VALUE_CASES)
def test_max_order_value_has_the_same_bounds_on_every_surface(world, bot, superuser_request,
                                                              value, inside):
    api = world.client_with_key(world.control_key_a)
    updated = api.patch(f"/api/v1/bots/{bot.pk}/", {"max_order_value": value}, format="json")
    try:
        bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=bot.pk,
                   max_order_value=value)
        service = True
    except ValidationFailed as exc:
        assert exc.field == "max_order_value"
        service = False
    accepted = {"api": updated.status_code == 200, "service": service,
                "admin": not _admin_errors(superuser_request, bot, "max_order_value", value)}
    assert accepted == dict.fromkeys(accepted, inside)


@pytest.mark.parametrize(("value", "inside"), FEE_CASES)
def test_fee_rates_have_the_same_bounds_in_the_admin_and_in_backtests(account,
                                                                      superuser_request,
                                                                      value, inside):
    try:
        BacktestConfig(strategy="sma_cross", fee=value, slippage=value).resolve()
        backtest = True
    except ValidationFailed:
        backtest = False
    accepted = {"backtest": backtest, **{
        field: not _admin_errors(superuser_request, account, field, value)
        for field in ("maker_fee", "taker_fee", "slippage")}}
    assert accepted == dict.fromkeys(accepted, inside)


def test_backtest_cash_has_the_capital_bounds(world, client):
    client.force_login(world.alice)
    for cash, inside in (("1000000000000", True), ("1000000000000.5", False)):
        try:
            BacktestConfig(strategy="sma_cross", cash=cash).resolve()
            resolved = True
        except ValidationFailed as exc:
            assert exc.field == "cash"
            resolved = False
        page = client.post(reverse("dashboard:backtests"), {
            "strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h", "cash": cash})
        assert (resolved, page.status_code == 302) == (inside, inside)


def test_the_forms_state_the_bounds(world, client):
    client.force_login(world.alice)
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert "From 0.00000001 to 1,000,000,000,000, with at most 8 decimal places." in page
    assert 'max="1000000000000"' in page


# --- values stored around the limits ----------------------------------------------------------

def _too_large() -> str:
    """Beyond every limit yet storable: PostgreSQL's numeric(28, 12) holds < 10^16; the
    SQLite column holds what the issue's reports had (10^17)."""
    return "100000000000000000" if connection.vendor == "sqlite" else "9000000000000000"


def _raw_update(table: str, column: str, value: str, row_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608
                       [value, row_id])


@pytest.fixture
def staff(world) -> Client:
    return client_past_second_factor(
        User.objects.create_superuser("staff@example.com", "root-pass-phrase-1"))


def test_a_stored_out_of_range_capital_breaks_no_page_api_or_admin(world, market, client,
                                                                    staff):
    broken = make_paper_bot(world.tenant_a, name="huge")
    make_paper_bot(world.tenant_a, name="fine")
    _raw_update("trading_bot", "capital", _too_large(), broken.pk)
    client.force_login(world.alice)
    overview = client.get(reverse("dashboard:overview"))
    assert overview.status_code == 200
    assert "huge" in overview.content.decode() and "fine" in overview.content.decode()
    assert client.get(reverse("dashboard:bot_detail", args=[broken.pk])).status_code == 200
    listed = world.client_with_key(world.read_key_a).get("/api/v1/bots/")
    assert listed.status_code == 200
    capitals = {row["name"]: row["capital"] for row in listed.json()["results"]}
    assert Decimal(capitals["huge"]) == Decimal(_too_large())
    detail = world.client_with_key(world.read_key_a).get(f"/api/v1/bots/{broken.pk}/")
    assert detail.status_code == 200
    assert staff.get(reverse("admin:trading_bot_changelist")).status_code == 200
    assert staff.get(reverse("admin:trading_bot_change", args=[broken.pk])).status_code == 200


def test_the_engine_pauses_only_the_bot_whose_capital_is_out_of_range(world, market):
    broken = make_paper_bot(world.tenant_a, name="huge")
    fine = make_paper_bot(world.tenant_a, name="fine")
    _raw_update("trading_bot", "capital", _too_large(), broken.pk)
    market.step()
    outcomes = {o.bot_id: o for o in run_ticks(tenant_id=world.tenant_a.pk,
                                               bot_ids=[broken.pk, fine.pk])}
    assert outcomes[broken.pk].status == "paused"
    assert outcomes[fine.pk].status == "ticked"
    broken.refresh_from_db()
    assert broken.status == Bot.Status.PAUSED
    assert broken.paused_reason.startswith("auto-paused: capital ")
    assert "outside the allowed range" in broken.paused_reason
    assert "1,000,000,000,000" in broken.paused_reason
    assert Thought.objects.filter(bot=broken, kind=Thought.Kind.BREAKER).exists()
    fine.refresh_from_db()
    assert fine.status == Bot.Status.RUNNING and fine.last_candle_ts is not None


def test_the_engine_pauses_a_bot_whose_paper_balance_is_out_of_range(world, market, staff):
    broken = make_paper_bot(world.tenant_a, name="rich")
    fine = make_paper_bot(world.tenant_a, name="fine")
    balance = PaperBalance.objects.get(account=broken.account, currency="USDT")
    _raw_update("trading_paperbalance", "free", _too_large(), balance.pk)
    market.step()
    outcomes = {o.bot_id: o for o in run_ticks(tenant_id=world.tenant_a.pk,
                                               bot_ids=[broken.pk, fine.pk])}
    assert (outcomes[broken.pk].status, outcomes[fine.pk].status) == ("paused", "ticked")
    broken.refresh_from_db()
    assert broken.paused_reason == \
        "auto-paused: paper balance of USDT is beyond 1,000,000,000,000,000"
    assert staff.get(reverse("admin:trading_paperbalance_changelist")).status_code == 200
    assert staff.get(reverse("admin:trading_paperbalance_change",
                             args=[balance.pk])).status_code == 200


def test_the_engine_pauses_a_bot_whose_account_fee_is_out_of_range(world, market):
    bot = make_paper_bot(world.tenant_a, name="fees")
    _raw_update("trading_exchangeaccount", "taker_fee", "5", bot.account_id)
    market.step()
    outcome, = run_ticks(tenant_id=world.tenant_a.pk, bot_ids=[bot.pk])
    assert outcome.status == "paused"
    assert outcome.detail.startswith("taker fee 5 is outside the allowed range")
