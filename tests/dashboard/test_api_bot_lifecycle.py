"""A bot through its life over the API: edit its market while flat, duplicate, stop, archive,
delete an archived bot that never traded; paused bots no longer count toward the plan."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tenants.models import AuditEvent, Tenant
from tenants.plans import Plan
from tests.base import owner_actor
from tests.dashboard.conftest import paper_bot
from trading.models import Bot, Order, Position, Thought
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_pause

BOTS = "/api/v1/bots/"


@pytest.fixture
def control(world):
    return world.client_with_key(world.control_key_a)


@pytest.fixture
def bot(world):
    return paper_bot(world.tenant_a, name="trend")


def hold(bot: Bot, amount: str = "0.01") -> None:
    Position.objects.update_or_create(tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol,
                                      defaults={"amount": Decimal(amount),
                                                "average_price": Decimal("100"), "entries": 1})


def test_it_moves_a_flat_bot_to_another_symbol_timeframe_and_account(world, control, bot):
    other = exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                    label="second", exchange_id="binance")
    response = control.patch(f"{BOTS}{bot.pk}/", {"symbol": "eth/usdt", "timeframe": "1h",
                                                  "account": other.pk}, format="json")
    assert response.status_code == 200, response.content
    bot.refresh_from_db()
    assert (bot.symbol, bot.timeframe, bot.account_id) == ("ETH/USDT", "1h", other.pk)
    assert bot.resume_pending and bot.strategy_state == {}
    assert Thought.objects.for_tenant(world.tenant_a).filter(
        bot=bot, summary__contains="Now trades ETH/USDT 1h").exists()
    audit = AuditEvent.objects.for_tenant(world.tenant_a).get(action="bot.update")
    assert audit.details["fields"] == ["account_id", "symbol", "timeframe"]


def test_it_refuses_to_move_a_bot_that_holds_a_position(control, bot):
    hold(bot)
    response = control.patch(f"{BOTS}{bot.pk}/", {"timeframe": "1h"}, format="json")
    assert response.status_code == 409
    assert "only while flat" in response.json()["error"]["message"] and "holds 0.01 BTC" in \
        response.json()["error"]["message"]
    bot.refresh_from_db()
    assert bot.timeframe == "1m"


def test_it_refuses_another_tenants_account_as_not_found(world, control, bot):
    foreign = exchange_account_create(tenant=world.tenant_b,
                                      actor=owner_actor(world.tenant_b), label="theirs",
                                      exchange_id="binance")
    response = control.patch(f"{BOTS}{bot.pk}/", {"account": foreign.pk}, format="json")
    assert response.status_code == 404


def test_it_rejects_a_timeframe_it_does_not_know(control, bot):
    response = control.patch(f"{BOTS}{bot.pk}/", {"timeframe": "7x"}, format="json")
    assert response.status_code == 400


def test_duplicate_makes_a_paused_copy_of_the_configuration(world, control, bot):
    response = control.post(f"{BOTS}{bot.pk}/duplicate/", {}, format="json")
    assert response.status_code == 201, response.content
    copy = Bot.objects.get(pk=response.json()["id"])
    assert copy.name == "trend copy" and copy.status == Bot.Status.PAUSED
    assert (copy.strategy, copy.parameters, copy.preset, copy.capital) == (
        bot.strategy, bot.parameters, bot.preset, bot.capital)
    again = control.post(f"{BOTS}{bot.pk}/duplicate/", {"name": "trend b"}, format="json")
    assert again.json()["name"] == "trend b"
    taken = control.post(f"{BOTS}{bot.pk}/duplicate/", {"name": "trend"}, format="json")
    assert taken.status_code == 409


def test_stop_needs_a_flat_bot(control, bot):
    hold(bot)
    assert control.post(f"{BOTS}{bot.pk}/stop/").status_code == 409
    Position.objects.filter(bot=bot).update(amount=Decimal("0"))
    response = control.post(f"{BOTS}{bot.pk}/stop/")
    assert response.status_code == 200 and response.json()["status"] == "stopped"


def test_archive_hides_the_bot_from_the_default_list_and_keeps_it_readable(control, bot):
    response = control.post(f"{BOTS}{bot.pk}/archive/")
    assert response.status_code == 200
    assert response.json()["status"] == "stopped" and response.json()["archived_at"]
    assert [b["id"] for b in control.get(BOTS).json()["results"]] == []
    assert [b["id"] for b in control.get(BOTS, {"archived": "true"}).json()["results"]] == \
        [bot.pk]
    assert control.get(f"{BOTS}{bot.pk}/").status_code == 200
    back = control.post(f"{BOTS}{bot.pk}/unarchive/")
    assert back.json()["archived_at"] is None
    assert [b["id"] for b in control.get(BOTS).json()["results"]] == [bot.pk]


def test_delete_removes_an_archived_bot_that_never_traded(world, control, bot):
    assert control.delete(f"{BOTS}{bot.pk}/").status_code == 409  # not archived yet
    control.post(f"{BOTS}{bot.pk}/archive/")
    response = control.delete(f"{BOTS}{bot.pk}/")
    assert response.status_code == 204
    assert not Bot.objects.filter(pk=bot.pk).exists()
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(action="bot.delete").exists()


def test_delete_keeps_a_bot_that_traded(world, control, bot):
    Order.objects.create(tenant=world.tenant_a, bot=bot, symbol=bot.symbol, side="buy",
                         type="market", amount=Decimal("0.01"), client_order_id="lifecycle-1",
                         candle_ts=0, account=bot.account, status=Order.Status.CLOSED)
    control.post(f"{BOTS}{bot.pk}/archive/")
    response = control.delete(f"{BOTS}{bot.pk}/")
    assert response.status_code == 409 and "stays archived" in response.json()["error"]["message"]
    assert Bot.objects.filter(pk=bot.pk).exists()


def test_lifecycle_actions_need_the_control_scope_and_hide_other_tenants(world, bot):
    reader = world.client_with_key(world.read_key_a)
    assert reader.post(f"{BOTS}{bot.pk}/archive/").status_code == 403
    assert reader.delete(f"{BOTS}{bot.pk}/").status_code == 403
    theirs = world.client_with_key(world.control_key_b)
    for method, path in (("post", "duplicate/"), ("post", "stop/"), ("post", "archive/"),
                         ("delete", "")):
        assert getattr(theirs, method)(f"{BOTS}{bot.pk}/{path}").status_code == 404


def test_a_paused_bot_no_longer_counts_toward_the_plan(world, control, bot):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    world.tenant_a.refresh_from_db()
    bot_pause(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=bot.pk)
    second = paper_bot(world.tenant_a, name="second")  # Free allows one running bot
    assert second.status == Bot.Status.RUNNING
    resumed = control.post(f"{BOTS}{bot.pk}/resume/")
    assert resumed.status_code == 402
    assert "The Free plan allows 1 running bot;" in resumed.json()["error"]["message"]


def test_a_manual_exit_is_accepted_and_listed(world, control, bot):
    hold(bot)
    response = control.post(f"{BOTS}{bot.pk}/manual/", {"action": "exit", "fraction": "0.5"},
                            format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["action"], body["fraction"], body["status"]) == ("exit", "0.5000", "pending")
    assert response["Location"].endswith(f"/api/v1/bots/{bot.pk}/manual-orders/")
    listed = control.get(f"{BOTS}{bot.pk}/manual-orders/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]


@pytest.mark.parametrize("body", [{"action": "buy"}, {"action": "exit", "fraction": "2"},
                                  {"action": "exit", "fraction": "0"}, {}])
def test_a_bad_manual_order_is_a_400(control, bot, body):
    hold(bot)
    assert control.post(f"{BOTS}{bot.pk}/manual/", body, format="json").status_code == 400


def test_manual_orders_need_control_and_hide_other_tenants(world, bot):
    hold(bot)
    body = {"action": "exit"}
    reader = world.client_with_key(world.read_key_a)
    assert reader.post(f"{BOTS}{bot.pk}/manual/", body, format="json").status_code == 403
    theirs = world.client_with_key(world.control_key_b)
    assert theirs.post(f"{BOTS}{bot.pk}/manual/", body, format="json").status_code == 404
    assert theirs.get(f"{BOTS}{bot.pk}/manual-orders/").status_code == 404
