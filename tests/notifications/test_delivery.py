"""Delivery: 429 retry_after honoured, backoff on errors, blocked or deleted chats unlinked,
and the bot token never in a log line or an error."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications import services, transport
from notifications.models import TelegramDelivery, TelegramLink
from notifications.tasks import deliver_message
from tenants.models import AuditEvent
from tests.notifications.conftest import CHATS, link_chat
from tests.trading.conftest import make_paper_bot

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def tina_link(cast, fake_telegram):
    make_paper_bot(cast.tenant_a, name="sma")
    return link_chat(cast, "tina")


def _queue_checkin(capture) -> TelegramDelivery:
    """Claim tina's first check-in; its send runs at commit."""
    with capture(execute=True):
        services.checkin_send_due()
    return TelegramDelivery.objects.get()


def test_a_429_is_retried_after_telegrams_retry_after(tina_link, fake_telegram,
                                                      django_capture_on_commit_callbacks):
    chat = CHATS["tina"]
    fake_telegram.rate_limit_next(retry_after=7, chat_id=chat)
    with time_machine.travel(START, tick=False) as clock:
        delivery = _queue_checkin(django_capture_on_commit_callbacks)
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.attempts == 1
        assert delivery.next_attempt_at == START + timedelta(seconds=7)
        assert "429" in delivery.last_error
        assert [c.status for c in fake_telegram.calls("sendMessage")] == [429]
        # Before retry_after has passed nothing is sent again, however often we look.
        clock.shift(timedelta(seconds=6))
        assert services.delivery_attempt(delivery_id=delivery.pk).status == "skipped"
        with django_capture_on_commit_callbacks(execute=True):
            assert services.delivery_retry_due() == 0
        clock.shift(timedelta(seconds=1))
        assert services.delivery_attempt(delivery_id=delivery.pk).status == "sent"
    assert [c.status for c in fake_telegram.calls("sendMessage")] == [429, 200]
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2


def test_the_attempt_reports_the_retry_after_to_the_task(tina_link, fake_telegram,
                                                         django_capture_on_commit_callbacks):
    delivery = _queue_checkin(django_capture_on_commit_callbacks)
    TelegramDelivery.objects.filter(pk=delivery.pk).update(status="pending",
                                                           next_attempt_at=START)
    fake_telegram.rate_limit_next(retry_after=12)
    outcome = services.delivery_attempt(delivery_id=delivery.pk)
    assert (outcome.status, outcome.retry_in) == ("retry", 12.0)


def test_in_eager_mode_the_minute_pass_retries_an_overdue_delivery(
        tina_link, fake_telegram, django_capture_on_commit_callbacks):
    fake_telegram.rate_limit_next(retry_after=3)
    with time_machine.travel(START, tick=False) as clock:
        delivery = _queue_checkin(django_capture_on_commit_callbacks)
        assert deliver_message.apply(args=[delivery.pk]).get() == "skipped"  # not due yet
        clock.shift(timedelta(seconds=3) + services.SWEEP_GRACE)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.delivery_retry_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert len(fake_telegram.sent_messages(CHATS["tina"])) == 1


def _queue_alert(capture) -> TelegramDelivery:
    """A vault alert for tenant A's chats; its send runs at commit."""
    tenant_id = TelegramLink.objects.get().tenant_id
    with capture(execute=True):
        services.alert_vault_failure(tenant_id=tenant_id, name="binance", reason="bad tag")
    return TelegramDelivery.objects.get()


def test_network_trouble_backs_off_exponentially_then_gives_up(
        tina_link, fake_telegram, django_capture_on_commit_callbacks):
    fake_telegram.fail_next("sendMessage", status=502, description="Bad Gateway",
                            times=services.DELIVERY_MAX_ATTEMPTS)
    with time_machine.travel(START, tick=False) as clock:
        delivery = _queue_alert(django_capture_on_commit_callbacks)
        now, waits = START, []
        while True:
            delivery.refresh_from_db()
            if delivery.status != "pending":
                break
            waits.append((delivery.next_attempt_at - now).total_seconds())
            now = delivery.next_attempt_at
            clock.move_to(now)
            services.delivery_attempt(delivery_id=delivery.pk)
    assert waits == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert delivery.status == "failed" and delivery.attempts == services.DELIVERY_MAX_ATTEMPTS
    assert "Bad Gateway" in delivery.last_error
    assert TelegramLink.objects.get(pk=tina_link.pk).active  # trouble is not a gone chat


def test_a_checkin_that_could_not_go_out_for_half_an_hour_is_given_up(
        tina_link, fake_telegram, django_capture_on_commit_callbacks):
    fake_telegram.fail_next("sendMessage", status=502, description="Bad Gateway")
    with time_machine.travel(START, tick=False) as clock:
        delivery = _queue_checkin(django_capture_on_commit_callbacks)
        clock.shift(timedelta(minutes=31))
        assert services.delivery_attempt(delivery_id=delivery.pk).status == "failed"
    delivery.refresh_from_db()
    assert delivery.last_error == "too old to be useful"
    assert len(fake_telegram.calls("sendMessage")) == 1  # the stale status was not sent


@pytest.mark.parametrize(("fault", "reason"), [
    ("block_chat", "bot was blocked by the user"),
    ("delete_chat", "chat not found"),
])
def test_a_blocked_or_deleted_chat_deactivates_the_link(tina_link, fake_telegram, fault, reason,
                                                        django_capture_on_commit_callbacks):
    getattr(fake_telegram, fault)(CHATS["tina"])
    delivery = _queue_checkin(django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    link = TelegramLink.objects.get(pk=tina_link.pk)
    assert delivery.status == "dropped" and delivery.attempts == 1
    assert not link.active and reason in link.deactivated_reason.lower()
    assert AuditEvent.objects.filter(action="telegram.deactivate", via="telegram").exists()
    # It is never tried again: no more check-ins, no retries.
    with time_machine.travel(START + timedelta(days=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.checkin_send_due() == 0
            assert services.delivery_retry_due() == 0
    assert len(fake_telegram.calls("sendMessage")) == 1


def test_a_refused_message_fails_without_unlinking(tina_link, fake_telegram,
                                                   django_capture_on_commit_callbacks):
    fake_telegram.fail_next("sendMessage", status=400,
                            description="Bad Request: message is too long")
    delivery = _queue_checkin(django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "too long" in delivery.last_error
    assert TelegramLink.objects.get(pk=tina_link.pk).active


def test_a_group_that_became_a_supergroup_is_followed(cast, fake_telegram,
                                                      django_capture_on_commit_callbacks):
    link = link_chat(cast, "tina", chat_id=-100)
    fake_telegram.migrate_chat(-100, -1001234)
    delivery = _queue_checkin(django_capture_on_commit_callbacks)
    link.refresh_from_db()
    assert link.active and link.chat_id == -1001234
    assert services.delivery_attempt(delivery_id=delivery.pk).status == "sent"
    assert len(fake_telegram.sent_messages(-1001234)) == 1


def test_the_token_never_reaches_logs_or_errors(tina_link, fake_telegram, settings, caplog):
    caplog.set_level(logging.DEBUG)
    assert transport.send_text(CHATS["tina"], "hello").ok
    settings.AITRADER_TELEGRAM_BOT_TOKEN = "999:wrong-token-that-is-secret"
    result = transport.send_text(CHATS["tina"], "hello")
    assert not result.ok and "secret" not in result.error
    assert transport.bot_username() is None
    assert fake_telegram.token not in caplog.text
    assert fake_telegram.token.split(":")[1] not in caplog.text
    assert "wrong-token-that-is-secret" not in caplog.text
    assert "<token>" in caplog.text  # httpx's request line was logged, redacted


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_waits_out_retry_after_before_sending_again(fake_telegram):
    """With a real worker (not eager), the task retries with countdown = retry_after."""
    from celery.contrib.testing.worker import start_worker

    from aitrader.celery import app
    from tests.base import build_world
    from tests.notifications.conftest import build_cast

    link_chat(build_cast(build_world()), "tina")
    fake_telegram.rate_limit_next(retry_after=1)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
            services.checkin_send_due()
            _wait_for(lambda: TelegramDelivery.objects.filter(status="sent").exists())
    finally:
        app.conf.task_always_eager = True
    first, second = fake_telegram.calls("sendMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert TelegramDelivery.objects.get().attempts == 2


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
