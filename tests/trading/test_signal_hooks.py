"""Inbound signals: a bot's webhook (public token + secret shown once) turns TradingView-style
alerts into manual orders, once per alert id, audited as the "signal webhook"."""
from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from aitrader.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, Role, Scope
from tests.base import owner_actor
from tests.trading.conftest import make_paper_bot
from trading.models import Bot, ManualOrder, Position, SignalAlert, SignalHook
from trading.services import signals
from trading.services.bot_lifecycle import bot_archive
from trading.services.bots import bot_pause
from trading.services.signals import (
    signal_hook_disable,
    signal_hook_enable,
    signal_receive,
)


@pytest.fixture
def bot(world) -> Bot:
    return make_paper_bot(world.tenant_a, name="signals")


def enable(bot: Bot) -> tuple[SignalHook, str]:
    return signal_hook_enable(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)


def alert(hook: SignalHook, secret: str, **fields):
    payload = {"secret": secret, "action": "enter", "alert_id": "a-1", **fields}
    return signal_receive(token=hook.token, payload=payload, ip="203.0.113.9")


def hold(bot: Bot, amount: str = "0.5") -> None:
    Position.objects.create(tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol,
                            amount=Decimal(amount), average_price=Decimal("100"), entries=1)


# --- enabling, rotating, disabling -------------------------------------------------------------

def test_it_keeps_only_the_secrets_hash_and_audits_without_it(world, bot):
    hook, secret = enable(bot)
    assert hook.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert len(secret) >= 32 and len(hook.token) >= 32 and hook.active
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(action="bot.signal_hook_enable")
    assert secret not in str(event.details) and event.target == bot.name


def test_rotating_makes_the_old_token_and_secret_stop_at_once(bot):
    old, old_secret = enable(bot)
    old_token = old.token
    new, new_secret = enable(bot)
    assert new.pk == old.pk and new.token != old_token and new_secret != old_secret
    assert new.rotated_at is not None
    with pytest.raises(NotFound):
        signal_receive(token=old_token, payload={"secret": old_secret, "action": "enter",
                                                 "alert_id": "x"}, ip="1.2.3.4")
    with pytest.raises(NotFound):
        alert(new, old_secret)
    assert alert(new, new_secret).queued


def test_disable_stops_the_hook_and_answers_like_an_unknown_token(bot):
    hook, secret = enable(bot)
    signal_hook_disable(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)
    with pytest.raises(NotFound) as disabled:
        alert(hook, secret)
    with pytest.raises(NotFound) as unknown:
        signal_receive(token="no-such-token", payload={"secret": secret}, ip="1.2.3.4")
    assert disabled.value.message == unknown.value.message
    assert not ManualOrder.objects.for_tenant(bot.tenant_id).exists()


def test_a_viewer_cannot_enable_and_another_tenants_bot_is_not_found(world, bot):
    viewer = Actor.for_member(Membership.objects.get(user=world.bob, tenant=world.tenant_a))
    with pytest.raises(Forbidden):
        signal_hook_enable(tenant=world.tenant_a, actor=viewer, bot_id=bot.pk)
    with pytest.raises(NotFound):
        signal_hook_enable(tenant=world.tenant_b, actor=owner_actor(world.tenant_b),
                           bot_id=bot.pk)
    with pytest.raises(NotFound):
        signal_hook_disable(tenant=world.tenant_b, actor=owner_actor(world.tenant_b),
                            bot_id=bot.pk)
    assert not SignalHook.objects.for_tenant(world.tenant_a).exists()


def test_an_archived_bot_gets_no_hook(bot):
    bot_archive(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)
    with pytest.raises(Conflict, match="archived"):
        enable(bot)


# --- receiving alerts ----------------------------------------------------------------------

def test_an_entry_alert_queues_a_manual_order_audited_as_the_signal_webhook(world, bot):
    hook, secret = enable(bot)
    result = alert(hook, secret, alert_id="tv-1")
    request = ManualOrder.objects.for_tenant(world.tenant_a).get()
    assert result.queued and not result.repeat and result.alert.manual_order == request
    assert request.action == "enter" and request.requested_by == "signal webhook"
    assert result.outcome.startswith("queued")
    events = AuditEvent.objects.for_tenant(world.tenant_a)
    received = events.get(action="bot.signal_alert")
    assert (received.actor_label, received.via, received.ip) == (
        "signal webhook", "signal webhook", "203.0.113.9")
    assert received.details["alert_id"] == "tv-1" and secret not in str(received.details)
    assert events.get(action="bot.manual_enter").actor_label == "signal webhook"
    hook.refresh_from_db()
    assert hook.last_used_at is not None


def test_the_secret_may_come_in_the_header_instead(bot):
    hook, secret = enable(bot)
    result = signal_receive(token=hook.token, payload={"action": "enter", "alert_id": "h"},
                            header_secret=secret, ip="1.2.3.4")
    assert result.queued


def test_a_wrong_or_missing_secret_is_not_found_and_changes_nothing(bot):
    hook, secret = enable(bot)
    for payload in ({"secret": secret + "x", "action": "enter", "alert_id": "1"},
                    {"action": "enter", "alert_id": "1"}, {"secret": 12345}):
        with pytest.raises(NotFound, match="No such signal hook"):
            signal_receive(token=hook.token, payload=payload, ip="1.2.3.4")
    hook.refresh_from_db()
    assert hook.last_used_at is None and not SignalAlert.objects.for_tenant(bot.tenant).exists()


def test_a_repeated_alert_id_returns_the_first_outcome_and_changes_nothing(bot):
    hook, secret = enable(bot)
    first = alert(hook, secret, alert_id="same")
    ManualOrder.objects.for_tenant(bot.tenant_id).update(status=ManualOrder.Status.DONE)
    again = alert(hook, secret, alert_id="same", action="exit")
    assert again.repeat and again.outcome == first.outcome and again.alert.pk == first.alert.pk
    assert ManualOrder.objects.for_tenant(bot.tenant_id).count() == 1
    assert AuditEvent.objects.for_tenant(bot.tenant_id).filter(
        action="bot.signal_alert").count() == 1


def test_a_racing_duplicate_is_caught_by_the_unique_constraint(bot, monkeypatch):
    hook, secret = enable(bot)
    first = alert(hook, secret, alert_id="race")
    # The other request inserted its row after this one looked and before it inserted.
    looks = []
    real = signals._alert_seen

    def first_look_misses(hook, alert_id):
        looks.append(alert_id)
        return None if len(looks) == 1 else real(hook, alert_id)

    monkeypatch.setattr(signals, "_alert_seen", first_look_misses)
    again = alert(hook, secret, alert_id="race")
    assert again.repeat and again.alert.pk == first.alert.pk and len(looks) == 2
    assert ManualOrder.objects.for_tenant(bot.tenant_id).count() == 1


@pytest.mark.parametrize(("fields", "field"), [
    ({"action": "short"}, "action"),
    ({"action": None}, "action"),
    ({"alert_id": ""}, "alert_id"),
    ({"alert_id": None}, "alert_id"),
    ({"alert_id": "x" * 101}, "alert_id"),
    ({"action": "exit", "share": 0}, "share"),
    ({"action": "exit", "share": "101"}, "share"),
    ({"action": "exit", "share": "half"}, "share"),
    ({"action": "exit", "share": True}, "share"),
    ({"action": "enter", "share": 50}, "share"),
])
def test_bad_fields_are_refused_naming_the_field(bot, fields, field):
    hook, secret = enable(bot)
    with pytest.raises(ValidationFailed) as refused:
        alert(hook, secret, **fields)
    assert refused.value.field == field
    assert not SignalAlert.objects.for_tenant(bot.tenant_id).exists()


def test_a_body_that_is_not_an_object_is_refused(bot):
    hook, _secret = enable(bot)
    with pytest.raises(ValidationFailed, match="JSON object"):
        signal_receive(token=hook.token, payload=["enter"], ip="1.2.3.4")


def test_an_exit_sells_the_share_in_percent(bot):
    hook, secret = enable(bot)
    hold(bot)
    result = alert(hook, secret, action="exit", share="25", alert_id="x-1")
    assert result.queued and result.alert.manual_order.fraction == Decimal("0.25")
    assert "25 %" in result.outcome


def test_buy_and_sell_are_enter_and_exit(bot):
    hook, secret = enable(bot)
    assert alert(hook, secret, action="buy", alert_id="b").alert.action == "enter"
    ManualOrder.objects.for_tenant(bot.tenant_id).update(status=ManualOrder.Status.DONE)
    hold(bot)
    assert alert(hook, secret, action="SELL", alert_id="s").alert.action == "exit"


def test_a_paused_bot_refuses_entries_but_may_exit(bot):
    hook, secret = enable(bot)
    hold(bot)
    bot_pause(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)
    refused = alert(hook, secret, alert_id="e")
    assert not refused.queued and "paused" in refused.outcome
    assert refused.outcome.startswith("refused") and refused.alert.manual_order is None
    assert alert(hook, secret, alert_id="e").outcome == refused.outcome  # recorded as given
    assert alert(hook, secret, action="exit", alert_id="x").queued


def test_an_archived_bot_refuses_every_alert(bot):
    hook, secret = enable(bot)
    bot_archive(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)
    result = alert(hook, secret, action="exit")
    assert not result.queued and "archived" in result.outcome


def test_the_signal_actor_may_control_this_tenant_and_nothing_more(world):
    actor = signals.signal_actor(world.tenant_a, ip="1.2.3.4")
    assert actor.can(Scope.CONTROL) and not actor.can(Scope.ADMIN)
    assert not actor.is_system and not actor.has_role(Role.TRADER)
    assert actor.tenant == world.tenant_a and actor.label == "signal webhook"
