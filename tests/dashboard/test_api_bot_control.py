"""pause / resume / close_all: who may press them, what they change, and what the engine does."""
from __future__ import annotations

import pytest

from tenants.models import AuditEvent, Role
from tests.dashboard.conftest import member_client, paper_bot, tick
from trading import selectors
from trading.engine import run_tick
from trading.models import Bot, Order, Thought, Trade


def _url(bot: Bot, action: str) -> str:
    return f"/api/v1/bots/{bot.pk}/{action}/"


def _status(bot: Bot) -> str:
    return Bot.objects.get(pk=bot.pk).status


@pytest.fixture
def bot(world, market):
    return paper_bot(world.tenant_a)


@pytest.fixture
def paused_bot(world, bot):
    world.client_with_key(world.control_key_a).post(_url(bot, "pause"))
    assert _status(bot) == Bot.Status.PAUSED
    return bot


# --- who may press the buttons -----------------------------------------------------------------

@pytest.mark.parametrize("action", ["pause", "close_all"])
def test_it_rejects_a_read_key(world, bot, action):
    response = world.client_with_key(world.read_key_a).post(_url(bot, action))
    assert response.status_code == 403
    assert "control" in response.json()["error"]["message"]
    assert _status(bot) == Bot.Status.RUNNING
    assert not AuditEvent.objects.filter(action__startswith="bot.pause").exists()


def test_it_rejects_a_read_key_for_resume(world, paused_bot):
    response = world.client_with_key(world.read_key_a).post(_url(paused_bot, "resume"))
    assert response.status_code == 403
    assert _status(paused_bot) == Bot.Status.PAUSED


def test_a_control_key_pauses_and_the_audit_log_names_the_key(world, bot):
    response = world.client_with_key(world.control_key_a).post(_url(bot, "pause"))
    assert response.status_code == 200
    assert response.json()["status"] == "paused"
    assert _status(bot) == Bot.Status.PAUSED
    key = world.key_row(world.control_key_a)
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(action="bot.pause")
    assert (event.actor_key_id, event.actor_user_id, event.via) == (key.pk, None, "api")
    assert event.target == bot.name
    assert key.prefix in Bot.objects.get(pk=bot.pk).paused_reason


def test_a_control_key_resumes_a_paused_bot(world, paused_bot):
    response = world.client_with_key(world.control_key_a, header="x-api-key").post(
        _url(paused_bot, "resume"))
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert response.json()["paused_reason"] == ""
    assert _status(paused_bot) == Bot.Status.RUNNING
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(action="bot.resume")
    assert event.actor_key_id == world.key_row(world.control_key_a).pk


def test_a_pause_leaves_a_control_thought(world, bot):
    world.client_with_key(world.control_key_a).post(_url(bot, "pause"))
    thought = Thought.objects.get(bot=bot, kind=Thought.Kind.CONTROL)
    assert thought.summary.startswith("Paused")


def test_a_viewer_session_cannot_pause(world, bot):
    response = world.client_for(world.bob).post(_url(bot, "pause"))
    assert response.status_code == 403
    assert "viewer" in response.json()["error"]["message"]
    assert _status(bot) == Bot.Status.RUNNING


def test_a_trader_session_pauses_and_resumes_and_is_audited_by_name(world, bot):
    client = member_client(world.tenant_a, Role.TRADER)
    assert client.post(_url(bot, "pause")).status_code == 200
    assert _status(bot) == Bot.Status.PAUSED
    assert client.post(_url(bot, "resume")).status_code == 200
    assert _status(bot) == Bot.Status.RUNNING
    events = AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action__in=["bot.pause", "bot.resume"])
    assert {e.actor_label for e in events} == {f"trader-{world.tenant_a.slug}@example.com"}


def test_an_owner_session_may_close_all(world, bot, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client_for(world.alice).post(_url(bot, "close_all"))
    assert response.status_code == 202
    assert _status(bot) == Bot.Status.PAUSED


def test_with_tenant_keys_for_control_a_read_key_may_pause(world, bot, settings):
    settings.AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL = True
    response = world.client_with_key(world.read_key_a).post(_url(bot, "pause"))
    assert response.status_code == 200
    assert _status(bot) == Bot.Status.PAUSED
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(action="bot.pause")
    assert event.actor_key_id == world.key_row(world.read_key_a).pk


def test_with_tenant_keys_for_control_a_viewer_session_still_cannot_pause(world, bot, settings):
    settings.AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL = True
    assert world.client_for(world.bob).post(_url(bot, "pause")).status_code == 403
    assert _status(bot) == Bot.Status.RUNNING


def test_without_a_credential_it_is_401(bot):
    from rest_framework.test import APIClient

    response = APIClient().post(_url(bot, "pause"))
    assert response.status_code == 401
    assert _status(bot) == Bot.Status.RUNNING


def test_control_actions_are_post_only(world, bot):
    response = world.client_with_key(world.control_key_a).get(_url(bot, "pause"))
    assert response.status_code == 405
    assert _status(bot) == Bot.Status.RUNNING


def test_pausing_twice_keeps_the_first_reason(world, bot):
    control = world.client_with_key(world.control_key_a)
    control.post(_url(bot, "pause"))
    first = Bot.objects.get(pk=bot.pk).paused_at
    response = control.post(_url(bot, "pause"))
    assert response.status_code == 200
    assert Bot.objects.get(pk=bot.pk).paused_at == first


# --- what the engine does afterwards -----------------------------------------------------------

def test_a_paused_bot_places_no_orders_on_further_ticks(world, market):
    paused, twin = paper_bot(world.tenant_a, name="paused"), paper_bot(world.tenant_a,
                                                                        name="twin")
    world.client_with_key(world.control_key_a).post(_url(paused, "pause"))
    for _ in range(120):
        market.step()
        for each in (paused, twin):
            run_tick(tenant_id=each.tenant_id, bot_id=each.pk)
    assert Order.objects.filter(bot=twin).exists()  # the market did give reasons to trade
    assert not Order.objects.filter(bot=paused).exists()
    assert _status(paused) == Bot.Status.PAUSED


def test_a_resumed_bot_trades_again(world, paused_bot, market):
    world.client_with_key(world.control_key_a).post(_url(paused_bot, "resume"))
    tick(paused_bot, market, 120)
    assert Order.objects.filter(bot=paused_bot).exists()


def test_close_all_sells_the_open_position(world, bot, market,
                                           django_capture_on_commit_callbacks):
    for _ in range(300):
        tick(bot, market)
        position = selectors.position_for_bot(bot=bot)
        if position is not None and position.amount > 0:
            break
    else:
        pytest.fail("the bot never bought in 300 candles")
    held = position.amount

    with django_capture_on_commit_callbacks(execute=True):
        response = world.client_with_key(world.control_key_a).post(_url(bot, "close_all"))
    assert response.status_code == 202
    assert response.json()["status"] == "paused"
    sell = Order.objects.get(bot=bot, reason="close_all")
    assert (sell.side, sell.amount) == ("sell", held)

    tick(bot, market)
    assert selectors.position_for_bot(bot=bot).amount == 0
    assert Order.objects.get(pk=sell.pk).status == Order.Status.CLOSED
    assert not Trade.objects.filter(bot=bot, status=Trade.Status.OPEN).exists()
    assert Trade.objects.filter(bot=bot).order_by("-id").first().exit_reason == "close_all"
    assert _status(bot) == Bot.Status.PAUSED
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(action="bot.close_all")
    assert event.actor_key_id == world.key_row(world.control_key_a).pk


def test_close_all_without_a_position_places_nothing(world, bot,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client_with_key(world.control_key_a).post(_url(bot, "close_all"))
    assert response.status_code == 202
    assert not Order.objects.filter(bot=bot).exists()
    assert _status(bot) == Bot.Status.PAUSED
