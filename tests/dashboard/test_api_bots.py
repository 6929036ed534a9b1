"""/api/v1/bots/: list, detail, create and update, with validation and plan refusals."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tenants.models import Role, Tenant
from tenants.plans import Plan
from tests.base import owner_actor
from tests.dashboard.conftest import member_client, paper_bot, tick
from trading.models import Bot, ExchangeAccount, Trade, TradingMode
from trading.services.accounts import exchange_account_create

BOTS = "/api/v1/bots/"


def _account(tenant: Tenant, label: str = "paper") -> ExchangeAccount:
    return exchange_account_create(tenant=tenant, actor=owner_actor(tenant), label=label,
                                   exchange_id="binance")


def _body(account: ExchangeAccount, **overrides) -> dict:
    body = {"name": "trend", "account": account.pk, "symbol": "BTC/USDT", "timeframe": "1m",
            "strategy": "sma_cross", "parameters": {"fast": 5, "slow": 20},
            "preset": "balanced", "capital": "500"}
    return body | overrides


def _set_plan(tenant: Tenant, plan: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(plan=plan)


@pytest.fixture
def control(world):
    return world.client_with_key(world.control_key_a)


@pytest.fixture
def account_a(world):
    return _account(world.tenant_a)


# --- create ------------------------------------------------------------------------------------

def test_it_creates_a_running_bot_with_a_control_key(world, control, account_a):
    response = control.post(BOTS, _body(account_a), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    bot = Bot.objects.get(pk=body["id"])
    assert bot.tenant_id == world.tenant_a.pk
    assert (bot.name, bot.symbol, bot.strategy, bot.status) == (
        "trend", "BTC/USDT", "sma_cross", Bot.Status.RUNNING)
    assert bot.capital == Decimal("500")
    assert body["parameters"] == {"fast": 5, "slow": 20}
    assert (body["mode"], body["account"]) == ("paper", account_a.pk)


def test_it_fills_in_parameter_defaults_and_normalises_the_symbol(control, account_a):
    response = control.post(BOTS, _body(account_a, symbol="eth/usdt", parameters={}),
                            format="json")
    assert response.status_code == 201, response.content
    assert response.json()["symbol"] == "ETH/USDT"
    assert response.json()["parameters"] == {"fast": 10, "slow": 20}


def test_it_lets_a_signed_in_trader_create_a_bot(world, account_a):
    client = member_client(world.tenant_a, Role.TRADER)
    response = client.post(BOTS, _body(account_a), format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("who", ["read key", "viewer session"])
def test_it_refuses_creation_without_control(world, account_a, who):
    client = (world.client_with_key(world.read_key_a) if who == "read key"
              else world.client_for(world.bob))
    response = client.post(BOTS, _body(account_a), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Bot.objects.exists()


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"strategy": "moonshot"}, "strategy", "moonshot"),
    ({"parameters": {"fast": 0, "slow": 20}}, "fast", "at least 1"),
    ({"parameters": {"fast": 5, "slow": 999999}}, "slow", "at most 5000"),
    ({"parameters": {"fast": 30, "slow": 20}}, "fast", "smaller than slow"),
    ({"parameters": {"fast": "five"}}, "fast", "whole number"),
    ({"parameters": {"speed": 3}}, "speed", "Unknown parameter"),
    ({"timeframe": "7m"}, "timeframe", "7m"),
    ({"symbol": "BTCUSDT"}, "symbol", "BASE/QUOTE"),
    ({"symbol": "BTC/"}, "symbol", "BASE/QUOTE"),
    ({"preset": "yolo"}, "preset", "yolo"),
    ({"capital": "-5"}, "capital", ""),
    ({"name": ""}, "name", ""),
    ({"breakers": {"stale_checks": 0}}, "breakers.stale_checks", "from 1 to 100"),
])
def test_it_rejects_a_bad_configuration_naming_the_field(control, account_a, overrides, field,
                                                         words):
    response = control.post(BOTS, _body(account_a, **overrides), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    assert words in error["fields"][field][0]
    assert not Bot.objects.exists()


def test_it_requires_the_mandatory_fields(control):
    response = control.post(BOTS, {}, format="json")
    assert response.status_code == 400
    assert {"name", "account", "symbol", "strategy"} <= set(response.json()["error"]["fields"])


def test_it_answers_409_for_a_duplicate_name(world, control, account_a):
    assert control.post(BOTS, _body(account_a), format="json").status_code == 201
    response = control.post(BOTS, _body(account_a, symbol="ETH/USDT"), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "trend" in response.json()["error"]["message"]
    assert Bot.objects.for_tenant(world.tenant_a).count() == 1


def test_the_same_name_is_free_in_another_tenant(world, control, account_a):
    assert control.post(BOTS, _body(account_a), format="json").status_code == 201
    other = world.client_with_key(world.control_key_b)
    response = other.post(BOTS, _body(_account(world.tenant_b)), format="json")
    assert response.status_code == 201


def test_it_cannot_put_a_bot_on_another_tenants_account(world, control):
    foreign = _account(world.tenant_b)
    response = control.post(BOTS, _body(foreign), format="json")
    assert response.status_code == 404
    assert not Bot.objects.exists()


# --- plan refusals -----------------------------------------------------------------------------

def test_the_free_plan_refuses_a_second_bot_naming_the_pro_plan(world, control, account_a):
    _set_plan(world.tenant_a, Plan.FREE)
    assert control.post(BOTS, _body(account_a), format="json").status_code == 201
    response = control.post(BOTS, _body(account_a, name="second"), format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert "Free plan" in error["message"]
    assert "Pro plan" in error["message"]
    assert Bot.objects.for_tenant(world.tenant_a).count() == 1


def test_the_free_plan_refuses_a_bot_on_a_live_account_naming_the_pro_plan(world, control):
    live = ExchangeAccount.objects.create(tenant=world.tenant_a, label="live",
                                          mode=TradingMode.LIVE)
    _set_plan(world.tenant_a, Plan.FREE)
    response = control.post(BOTS, _body(live), format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], "Live trading" in error["message"]) == ("plan_limit", True)
    assert "Pro" in error["message"]
    assert not Bot.objects.exists()


def test_the_pro_plan_allows_a_bot_on_a_live_account(world, control, market):
    live = ExchangeAccount.objects.create(tenant=world.tenant_a, label="live",
                                          mode=TradingMode.LIVE, credential_ref="saved-keys")
    response = control.post(BOTS, _body(live), format="json")
    assert response.status_code == 201
    assert response.json()["mode"] == "live"


# --- list and detail ---------------------------------------------------------------------------

def test_it_lists_the_tenants_bots_by_name_with_a_read_key(world, control, account_a):
    for name in ("zeta", "alpha", "mid"):
        control.post(BOTS, _body(account_a, name=name), format="json")
    response = world.client_with_key(world.read_key_a).get(BOTS)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [bot["name"] for bot in body["results"]] == ["alpha", "mid", "zeta"]


def test_it_filters_bots_by_status_and_symbol(world, control, account_a):
    first = control.post(BOTS, _body(account_a, name="one"), format="json").json()
    control.post(BOTS, _body(account_a, name="two", symbol="ETH/USDT"), format="json")
    control.post(f"{BOTS}{first['id']}/pause/")
    reader = world.client_with_key(world.read_key_a)
    paused = reader.get(BOTS, {"status": "paused"}).json()["results"]
    assert [bot["name"] for bot in paused] == ["one"]
    eth = reader.get(BOTS, {"symbol": "ETH/USDT"}).json()["results"]
    assert [bot["name"] for bot in eth] == ["two"]


def test_it_orders_bots_by_a_requested_field(world, control, account_a):
    for name in ("b", "a", "c"):
        control.post(BOTS, _body(account_a, name=name), format="json")
    names = [bot["name"] for bot in
             world.client_with_key(world.read_key_a).get(BOTS, {"ordering": "-name"})
             .json()["results"]]
    assert names == ["c", "b", "a"]


def test_the_detail_shows_the_configuration_and_state(world, control, account_a):
    created = control.post(BOTS, _body(account_a), format="json").json()
    response = world.client_with_key(world.read_key_a, header="x-api-key").get(
        f"{BOTS}{created['id']}/")
    assert response.status_code == 200
    body = response.json()
    assert body == created
    assert {"status", "paused_reason", "realized_pnl", "last_candle_ts", "preset",
            "risk"} <= set(body)


def test_a_viewer_session_reads_bots(world, control, account_a):
    control.post(BOTS, _body(account_a), format="json")
    response = world.client_for(world.bob).get(BOTS)
    assert response.status_code == 200
    assert response.json()["count"] == 1


# --- update ------------------------------------------------------------------------------------

@pytest.fixture
def bot_url(control, account_a):
    created = control.post(BOTS, _body(account_a), format="json").json()
    return f"{BOTS}{created['id']}/"


def test_it_updates_name_parameters_and_risk(control, bot_url):
    response = control.patch(bot_url, {"name": "renamed", "parameters": {"fast": 7, "slow": 30},
                                       "risk": {"stop_loss_pct": 2.5}}, format="json")
    assert response.status_code == 200, response.content
    bot = Bot.objects.get(pk=response.json()["id"])
    assert bot.name == "renamed"
    assert bot.parameters == {"fast": 7, "slow": 30}
    assert bot.risk == {"stop_loss_pct": 2.5}


def test_an_update_validates_like_a_create(control, bot_url):
    response = control.patch(bot_url, {"parameters": {"fast": 50, "slow": 20}}, format="json")
    assert response.status_code == 400
    assert "fast" in response.json()["error"]["fields"]
    bot = Bot.objects.get()
    assert bot.parameters == {"fast": 5, "slow": 20}


def test_an_update_rejects_an_unknown_preset_naming_it(control, bot_url):
    response = control.patch(bot_url, {"preset": "yolo"}, format="json")
    assert response.status_code == 400
    assert "preset" in response.json()["error"]["fields"]
    assert Bot.objects.get().preset == "balanced"


def test_renaming_onto_another_bots_name_is_a_conflict(control, account_a, bot_url):
    control.post(BOTS, _body(account_a, name="taken"), format="json")
    response = control.patch(bot_url, {"name": "taken"}, format="json")
    assert response.status_code == 409
    assert Bot.objects.filter(name="trend").exists()


def test_an_update_needs_control(world, bot_url):
    response = world.client_with_key(world.read_key_a).patch(bot_url, {"name": "x"},
                                                             format="json")
    assert response.status_code == 403
    assert Bot.objects.get().name == "trend"


def test_the_strategy_of_a_bot_cannot_be_swapped_by_an_update(control, bot_url):
    control.patch(bot_url, {"strategy": "grid", "symbol": "ETH/USDT"}, format="json")
    bot = Bot.objects.get()
    assert (bot.strategy, bot.symbol) == ("sma_cross", "BTC/USDT")


def test_the_bot_list_costs_the_same_queries_for_1_bot_as_for_30(world, control, account_a,
                                                                 django_assert_num_queries):
    _set_plan(world.tenant_a, Plan.ENTERPRISE)  # Pro stops at 10 bots
    reader = world.client_with_key(world.read_key_a)
    control.post(BOTS, _body(account_a, name="bot 0"), format="json")
    reader.get(BOTS)
    # the key, the count, the page (accounts joined), the pairs of the bots on the page
    with django_assert_num_queries(4):
        assert len(reader.get(BOTS).json()["results"]) == 1
    for n in range(1, 30):
        control.post(BOTS, _body(account_a, name=f"bot {n}"), format="json")
    with django_assert_num_queries(4):
        assert len(reader.get(BOTS).json()["results"]) == 30


# --- candles for the chart ---------------------------------------------------------------------

def test_candles_show_the_closed_candles_and_the_bots_trade_marks(world, market):
    bot = paper_bot(world.tenant_a)
    tick(bot, market, 150)
    body = world.client_with_key(world.read_key_a).get(f"{BOTS}{bot.pk}/candles/").json()
    assert body["candles"]
    newest_closed = int(market.candles.timestamp[market.cursor - 1])
    assert body["candles"][-1][0] == newest_closed
    trades = Trade.objects.filter(bot=bot)
    assert trades.exists()
    assert {mark["id"] for mark in body["marks"]} == set(trades.values_list("pk", flat=True))
