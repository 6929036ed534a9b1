"""Channel delivery over real HTTP and Django's mail backend: the signed webhook body, retries
on 5xx / 429 / timeouts with backoff, 4xx final, e-mail, trade entries and exits, and the daily
digest (one per channel per UTC day)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from notifications import services
from notifications import services_channels as channels
from notifications.models import AlertKind, ChannelDelivery, NotificationChannel
from notifications.tasks import run_channels_pass
from tenants.actors import Actor
from tenants.events import publish_now
from tests.trading.conftest import make_paper_bot
from trading.models import Trade

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = True


def _add(cast, target, kind="webhook", tenant=None, **switches):
    tenant = tenant or cast.tenant_a
    return channels.channel_add(tenant=tenant, actor=Actor.system(tenant, via="test"),
                                kind=kind, target=target, switches=switches or None)


def _alert(cast, capture, key="k1", text="Bot sma was paused: stale data"):
    with capture(execute=True):
        services.alert_notify(tenant_id=cast.tenant_a.pk, kind=AlertKind.AUTO_PAUSE,
                              text=text, dedup_key=key)


def _verify(secret: str, received) -> dict:
    """What a receiver does: recompute the HMAC over timestamp + body, compare, parse."""
    timestamp = received.headers["x-aitrader-timestamp"]
    signed = timestamp.encode() + b"." + received.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(received.headers["x-aitrader-signature"], expected)
    return json.loads(received.body)


# --- webhooks ----------------------------------------------------------------------------------


def test_a_webhook_gets_a_signed_discord_and_slack_compatible_body(
        cast, fake_webhook, django_capture_on_commit_callbacks):
    channel, secret = _add(cast, fake_webhook.url)
    with time_machine.travel(START, tick=False):
        _alert(cast, django_capture_on_commit_callbacks)
    [received] = fake_webhook.received
    assert received.path == "/hook/abc"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-aitrader-timestamp"] == str(int(START.timestamp()))
    body = _verify(secret, received)
    assert body["content"] == body["text"] == "Bot sma was paused: stale data"
    assert body["event"] == "alert" and body["kind"] == "auto_pause"
    assert body["tenant"] == {"id": cast.tenant_a.pk, "name": "Tenant A"}
    assert body["time"] == START.isoformat()
    delivery = ChannelDelivery.objects.get()
    assert body["delivery"] == delivery.pk
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("sent", 1, START)


def test_a_tampered_body_or_another_secret_does_not_verify(
        cast, fake_webhook, django_capture_on_commit_callbacks):
    _channel, secret = _add(cast, fake_webhook.url)
    _alert(cast, django_capture_on_commit_callbacks)
    received = fake_webhook.received[0]
    _verify(secret, received)  # as sent, it verifies with the channel's secret only
    with pytest.raises(AssertionError):
        _verify("another-channels-secret", received)
    received.body = received.body.replace(b"paused", b"resumed")
    with pytest.raises(AssertionError):
        _verify(secret, received)


def test_a_500_is_retried_with_backoff_then_sent(cast, fake_webhook,
                                                 django_capture_on_commit_callbacks):
    _add(cast, fake_webhook.url)
    fake_webhook.fail_next(500, 503)
    with time_machine.travel(START, tick=False) as clock:
        _alert(cast, django_capture_on_commit_callbacks)
        delivery = ChannelDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == ("pending", 1)
        assert delivery.next_attempt_at == START + timedelta(seconds=channels.BACKOFF_BASE_SECONDS)
        assert "500" in delivery.last_error
        # Not due yet: nothing is sent, however often we look.
        assert channels.channel_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
        clock.shift(timedelta(seconds=channels.BACKOFF_BASE_SECONDS))
        assert channels.channel_delivery_attempt(delivery_id=delivery.pk).status == "retry"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == START + timedelta(
            seconds=3 * channels.BACKOFF_BASE_SECONDS)  # 5 s, then twice that
        clock.shift(timedelta(seconds=2 * channels.BACKOFF_BASE_SECONDS))
        assert channels.channel_delivery_attempt(delivery_id=delivery.pk).status == "sent"
    assert len(fake_webhook.received) == 3
    # Every attempt is signed afresh (its own timestamp), the body is the same event.
    bodies = {json.loads(r.body)["delivery"] for r in fake_webhook.received}
    assert bodies == {delivery.pk}


def test_a_429_waits_for_retry_after(cast, fake_webhook, django_capture_on_commit_callbacks):
    _add(cast, fake_webhook.url)
    fake_webhook.fail_next(429, retry_after="120")
    with time_machine.travel(START, tick=False):
        _alert(cast, django_capture_on_commit_callbacks)
    delivery = ChannelDelivery.objects.get()
    assert delivery.status == "pending" and "429" in delivery.last_error
    assert delivery.next_attempt_at == START + timedelta(seconds=120)  # not the backoff


def test_a_400_is_final(cast, fake_webhook, django_capture_on_commit_callbacks):
    _add(cast, fake_webhook.url)
    fake_webhook.fail_next(400)
    _alert(cast, django_capture_on_commit_callbacks)
    delivery = ChannelDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "400" in delivery.last_error
    ChannelDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=START)
    with time_machine.travel(START, tick=False):  # due, yet final
        assert channels.channel_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    assert len(fake_webhook.received) == 1


def test_an_unreachable_webhook_is_retried_then_fails_after_the_last_attempt(
        cast, django_capture_on_commit_callbacks):
    _add(cast, "http://127.0.0.1:9/closed-port")  # discard port: nothing listens
    with time_machine.travel(START, tick=False) as clock:
        _alert(cast, django_capture_on_commit_callbacks)
        delivery = ChannelDelivery.objects.get()
        assert delivery.status == "pending" and delivery.last_error
        for _ in range(channels.DELIVERY_MAX_ATTEMPTS - 1):
            clock.shift(timedelta(seconds=channels.BACKOFF_MAX_SECONDS))
            channels.channel_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", channels.DELIVERY_MAX_ATTEMPTS)


def test_the_minute_pass_resends_an_overdue_delivery(cast, fake_webhook,
                                                    django_capture_on_commit_callbacks):
    _add(cast, fake_webhook.url, daily_digest=False)
    fake_webhook.fail_next(502)
    with time_machine.travel(START, tick=False) as clock:
        _alert(cast, django_capture_on_commit_callbacks)
        clock.shift(timedelta(seconds=channels.BACKOFF_BASE_SECONDS) + channels.SWEEP_GRACE)
        with django_capture_on_commit_callbacks(execute=True):
            assert run_channels_pass()["retried"] == 1
    assert ChannelDelivery.objects.get().status == "sent"
    assert len(fake_webhook.received) == 2


def test_a_redirect_is_final_and_not_followed(
        cast, fake_webhook, django_capture_on_commit_callbacks):
    _add(cast, fake_webhook.url)
    fake_webhook.fail_next(302)
    _alert(cast, django_capture_on_commit_callbacks)
    assert ChannelDelivery.objects.get().status == "failed"
    assert len(fake_webhook.received) == 1


def test_a_webhook_pointing_at_a_private_address_at_send_time_is_dropped(
        cast, fake_webhook, settings, django_capture_on_commit_callbacks):
    _add(cast, fake_webhook.url)
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = False  # e.g. DNS now answers 127.0.0.1
    _alert(cast, django_capture_on_commit_callbacks)
    delivery = ChannelDelivery.objects.get()
    assert delivery.status == "failed" and "address" in delivery.last_error
    assert fake_webhook.received == []


def test_a_host_that_resolves_to_a_local_address_is_refused_before_any_byte_is_sent(
        cast, fake_webhook, settings, django_capture_on_commit_callbacks):
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = False
    port = fake_webhook.url.split(":")[2].split("/")[0]
    _add(cast, f"https://localhost:{port}/hook")  # a name, so it passes when saved
    _alert(cast, django_capture_on_commit_callbacks)
    delivery = ChannelDelivery.objects.get()
    assert delivery.status == "failed" and "private or local" in delivery.last_error
    assert fake_webhook.received == []


def test_the_secret_and_url_token_never_reach_the_log(cast, fake_webhook, caplog,
                                                     django_capture_on_commit_callbacks):
    _channel, secret = _add(cast, fake_webhook.url)
    fake_webhook.fail_next(500, 400)
    with caplog.at_level("DEBUG"):
        _alert(cast, django_capture_on_commit_callbacks)
        ChannelDelivery.objects.update(next_attempt_at=START)
        with time_machine.travel(START, tick=False):  # the retry is due
            channels.channel_delivery_attempt(delivery_id=ChannelDelivery.objects.get().pk)
    assert secret not in caplog.text and "/hook/abc" not in caplog.text


# --- e-mail ------------------------------------------------------------------------------------


def test_an_email_channel_gets_the_alert_by_mail(cast, django_capture_on_commit_callbacks):
    _add(cast, "ops@example.com", kind="email")
    _alert(cast, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == "[Tenant A] Bot auto-paused by a circuit breaker"
    assert "Bot sma was paused: stale data" in message.body
    assert "Settings" in message.body  # where to switch it off
    assert ChannelDelivery.objects.get().status == "sent"


def test_a_mail_server_that_is_down_is_retried(cast, settings,
                                               django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", 9, False
    _add(cast, "ops@example.com", kind="email")
    _alert(cast, django_capture_on_commit_callbacks)
    delivery = ChannelDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1


# --- trade entries and exits --------------------------------------------------------------------


def _trade_event(bot, status, **data):
    return {"id": 77, "status": status, "symbol": bot.symbol, "amount": "0.01",
            "entry_price": "50000", "exit_price": None, "pnl": None, "exit_reason": ""} | data


def test_entries_and_exits_reach_channels_that_want_them_once(
        cast, fake_webhook, django_capture_on_commit_callbacks):
    bot = make_paper_bot(cast.tenant_a, name="sma")
    _channel, secret = _add(cast, fake_webhook.url)
    _add(cast, "quiet@example.com", kind="email", entry=False, exit=False)
    with django_capture_on_commit_callbacks(execute=True):
        publish_now(cast.tenant_a.pk, "trade", bot.pk, _trade_event(bot, "open"))
        publish_now(cast.tenant_a.pk, "trade", bot.pk, _trade_event(bot, "open"))  # same trade
        publish_now(cast.tenant_a.pk, "trade", bot.pk, _trade_event(
            bot, "closed", exit_price="51000", pnl="9.50", exit_reason="take_profit"))
    entry, exit_ = (_verify(secret, r) for r in fake_webhook.received)
    assert (entry["event"], exit_["event"]) == ("entry", "exit")
    assert entry["bot"] == {"id": bot.pk, "name": "sma"}
    assert "BTC/USDT" in entry["text"] and "0.01" in entry["text"]
    assert "+9.50" in exit_["text"] and "take_profit" in exit_["text"]
    assert exit_["trade"]["pnl"] == "9.50"
    assert mail.outbox == []


def test_a_trade_event_of_a_tenant_without_channels_costs_one_query(
        cast, django_assert_num_queries):
    bot = make_paper_bot(cast.tenant_a, name="sma")
    with django_assert_num_queries(1):
        publish_now(cast.tenant_a.pk, "trade", bot.pk, _trade_event(bot, "open"))


# --- daily digest ------------------------------------------------------------------------------


def _closed_trade(bot, exit_time, pnl):
    return Trade.objects.create(
        tenant=bot.tenant, bot=bot, symbol=bot.symbol, amount=Decimal("0.01"),
        entry_price=Decimal("50000"), entry_time=exit_time - timedelta(hours=1),
        exit_price=Decimal("51000"), exit_time=exit_time, closed_amount=Decimal("0.01"),
        pnl=Decimal(pnl), status=Trade.Status.CLOSED)


def test_the_daily_digest_sends_yesterdays_pnl_once_per_channel_per_day(
        cast, fake_webhook, django_capture_on_commit_callbacks):
    day = datetime(2026, 3, 1, tzinfo=UTC)
    with time_machine.travel(day - timedelta(days=1), tick=False):
        _channel, secret = _add(cast, fake_webhook.url)
        _add(cast, "ops@example.com", kind="email", daily_digest=False)
        _add(cast, "b@example.com", kind="email", tenant=cast.tenant_b)
    sma, rsi = make_paper_bot(cast.tenant_a, name="sma"), make_paper_bot(cast.tenant_a,
                                                                         name="rsi")
    _closed_trade(sma, day + timedelta(hours=3), "12.50")
    _closed_trade(sma, day + timedelta(hours=20), "-2.25")
    _closed_trade(rsi, day - timedelta(minutes=1), "99")      # the day before: not counted
    _closed_trade(rsi, day + timedelta(days=1), "50")         # today: not yet
    with time_machine.travel(day + timedelta(days=1, minutes=5), tick=False):
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                run_channels_pass()
    [received] = fake_webhook.received
    body = _verify(secret, received)
    assert body["event"] == "daily_digest"
    assert "2026-03-01" in body["text"]
    assert "sma" in body["text"] and "+10.25" in body["text"]
    assert "rsi" in body["text"] and "+0.00" in body["text"]
    assert body["digest"]["day"] == "2026-03-01"
    assert body["digest"]["total"] == "10.25"
    assert {b["name"]: b["realized"] for b in body["digest"]["bots"]} == {
        "sma": "10.25", "rsi": "0"}
    # Tenant B's e-mail channel got its own digest, not tenant A's bots.
    [b_mail] = mail.outbox
    assert b_mail.to == ["b@example.com"] and "sma" not in b_mail.body


def test_a_channel_added_today_waits_for_the_day_it_saw_end(
        cast, fake_webhook, django_capture_on_commit_callbacks):
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        _add(cast, fake_webhook.url)
        with django_capture_on_commit_callbacks(execute=True):
            run_channels_pass()
    assert fake_webhook.received == []
    with time_machine.travel(now + timedelta(days=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            run_channels_pass()
    assert len(fake_webhook.received) == 1


def test_no_channel_means_no_digest_work(cast, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert channels.digest_send_due(now=START) == 0


def test_an_inactive_channel_is_refused_at_send_time(cast, fake_webhook,
                                                     django_capture_on_commit_callbacks):
    channel, _ = _add(cast, fake_webhook.url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.alert_notify(tenant_id=cast.tenant_a.pk, kind=AlertKind.DRIFT, text="x",
                              dedup_key="k")
    NotificationChannel.objects.filter(pk=channel.pk).update(active=False)
    for callback in callbacks:
        callback()
    assert ChannelDelivery.objects.get().status == "dropped"
    assert fake_webhook.received == []
