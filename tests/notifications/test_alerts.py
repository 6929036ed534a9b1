"""Alerts: a real auto-pause, order failures and vault failures reach every linked chat of the
tenant at once, once per event, unless the tenant switched that type off."""
from __future__ import annotations

import pytest
from django.db import transaction

from aitrader.errors import Forbidden
from notifications import services
from notifications.models import NotificationSettings, TelegramDelivery
from notifications.receivers import wait_for_background
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership
from tests.base import build_world
from tests.notifications.conftest import CHATS, build_cast, link_chat
from tests.trading.conftest import make_paper_bot
from trading.models import Bot
from trading.services.bots import bot_auto_pause
from trading.signals import order_failed

A_CHATS = [CHATS[name] for name in ("alice", "adam", "tina", "bob")]


@pytest.fixture
def linked(cast, fake_telegram):
    for name in CHATS:
        link_chat(cast, name)
    return cast


def _alerts(fake, chat_id: int) -> list[str]:
    return [t for t in fake.texts(chat_id) if not t.startswith("Check-in")]


@pytest.mark.django_db
def test_a_real_auto_pause_alerts_every_linked_chat_of_the_tenant(
        linked, fake_telegram, django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    with django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="market data stale for 5 checks")
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
    for chat in A_CHATS:  # viewers too: everyone linked should know
        [text] = _alerts(fake_telegram, chat)
        assert "Bot sma (BTC/USDT) was paused automatically" in text
        assert "Reason: market data stale for 5 checks" in text and "/resume sma" in text
    assert _alerts(fake_telegram, CHATS["charlie"]) == []


@pytest.mark.django_db
def test_the_same_pause_is_alerted_once(linked, fake_telegram,
                                        django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    with django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="exchange errors")
        bot_auto_pause(bot=bot, reason="exchange errors")  # already paused: no second event
        # A redelivered signal for the same event is deduplicated too.
        services.alert_bot_auto_paused(tenant_id=bot.tenant_id, bot_id=bot.pk,
                                       reason="exchange errors")
    assert len(_alerts(fake_telegram, CHATS["tina"])) == 1
    assert TelegramDelivery.objects.filter(kind="auto_pause").count() == len(A_CHATS)


@pytest.mark.django_db
def test_a_new_pause_after_a_resume_is_a_new_alert(linked, fake_telegram,
                                                   django_capture_on_commit_callbacks):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from trading.services.bots import bot_resume

    bot = make_paper_bot(linked.tenant_a, name="sma")
    with django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="stale data")
        bot_resume(tenant=linked.tenant_a, actor=Actor.system(linked.tenant_a), bot_id=bot.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)), \
            django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="stale data")
    assert len(_alerts(fake_telegram, CHATS["tina"])) == 2


@pytest.mark.django_db
def test_switched_off_alerts_are_not_sent(linked, fake_telegram,
                                          django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    owner = Membership.objects.get(user=linked.world.alice)
    services.notification_settings_update(tenant=linked.tenant_a, actor=Actor.for_member(owner),
                                          auto_pause=False)
    with django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="stale")
    assert all(_alerts(fake_telegram, chat) == [] for chat in A_CHATS)
    assert AuditEvent.objects.filter(action="notifications.settings").exists()


@pytest.mark.django_db
def test_only_admins_switch_alerts(linked):
    tina = Membership.objects.get(user=linked.tina)
    with pytest.raises(Forbidden):
        services.notification_settings_update(tenant=linked.tenant_a,
                                              actor=Actor.for_member(tina), auto_pause=False)
    assert not NotificationSettings.objects.exists()


@pytest.mark.django_db
def test_an_order_failure_is_alerted_once_per_order(linked, fake_telegram,
                                                    django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            order_failed.send(sender=Bot, tenant_id=bot.tenant_id, bot_id=bot.pk, order_id=41,
                              error="insufficient balance", side="buy")
    [text] = _alerts(fake_telegram, CHATS["bob"])
    assert "A buy order of bot sma (BTC/USDT) failed" in text
    assert "insufficient balance" in text


@pytest.mark.django_db
def test_a_broken_alert_never_breaks_the_pause(linked, fake_telegram, settings,
                                               django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    settings.AITRADER_TELEGRAM_API_BASE_URL = "http://127.0.0.1:9/bot"  # nothing listens
    with django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="stale")
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
    assert set(TelegramDelivery.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.django_db
def test_drift_alert_names_the_bot(linked, fake_telegram, django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    with django_capture_on_commit_callbacks(execute=True):
        services.alert_drift(tenant_id=bot.tenant_id, bot_id=bot.pk,
                             summary="exchange holds 0.02 BTC, ledger 0.01")
        services.alert_drift(tenant_id=bot.tenant_id, bot_id=bot.pk,
                             summary="exchange holds 0.02 BTC, ledger 0.01")
    [text] = _alerts(fake_telegram, CHATS["adam"])
    assert "Reconciliation drift on bot sma" in text


@pytest.mark.django_db(transaction=True)
def test_a_vault_failure_inside_a_rolled_back_transaction_is_still_alerted(fake_telegram):
    from tenants.signals import vault_failure

    cast = build_cast(build_world())
    link_chat(cast, "tina")
    with pytest.raises(RuntimeError), transaction.atomic():
        vault_failure.send_robust(sender=None, tenant_id=cast.tenant_a.pk, name="binance-main",
                                  field="secret", reason="authentication tag mismatch")
        raise RuntimeError("the vault's caller rolls back")
    wait_for_background()
    [text] = _alerts(fake_telegram, CHATS["tina"])
    assert "could not open the secret 'binance-main'" in text
    assert "authentication tag mismatch" in text


@pytest.mark.django_db
def test_unlinked_chats_get_no_alerts(linked, fake_telegram, django_capture_on_commit_callbacks):
    bot = make_paper_bot(linked.tenant_a, name="sma")
    link = linked.tina.telegram_links.get(active=True)
    services.link_unlink(tenant=linked.tenant_a, actor=Actor.system(linked.tenant_a),
                         link_id=link.pk)
    with django_capture_on_commit_callbacks(execute=True):
        bot_auto_pause(bot=bot, reason="stale")
    assert _alerts(fake_telegram, CHATS["tina"]) == []
    assert len(_alerts(fake_telegram, CHATS["bob"])) == 1
