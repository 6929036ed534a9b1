"""Outgoing channels beside Telegram: e-mail addresses and signed webhooks, per tenant.

Admins add, switch and remove channels (every surface calls these services). Alerts, trade
entries and exits, and the daily digest become ChannelDelivery rows first, unique per
(channel, dedup key), and a retrying task sends each one, exactly like TelegramDelivery: an
attempt first claims its row with a conditional UPDATE (pending and due -> a lease), so a task
retry and the minute sweep never both send it.

A webhook's signing secret is made here, shown to the admin once and kept only in the vault;
its URL (a Discord or Slack webhook URL works as a credential) is kept there too, in the same
vault entry, and the channel's row keeps only its host (`webhook_display_form`).
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aitrader.errors import ValidationFailed
from notifications import messages, outgoing, selectors
from notifications.models import (
    CHANNEL_EVENTS,
    ChannelDelivery,
    NotificationChannel,
    webhook_display_form,
)
from notifications.tasks import deliver_channel_message
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.services import audit_record
from tenants.vault import VaultError, VaultSecretMissing, delete_secret, load_secret, store_secret
from trading.models import Bot

logger = logging.getLogger(__name__)

MAX_CHANNELS_PER_TENANT = 10
SECRET_BYTES = 32  # 256 bits, URL-safe
SECRET_FIELD = "signing_secret"  # noqa: S105  (a vault field name, not a secret)
URL_FIELD = "url"  # the webhook's URL, beside its secret in the channel's vault entry
DELIVERY_LEASE = timedelta(seconds=60)  # an attempt in flight (sends time out after 5 s)
DELIVERY_MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 600
SWEEP_GRACE = timedelta(seconds=30)  # the task's own retry goes first; the sweep catches strays
MAX_AGE = {"daily_digest": timedelta(hours=24)}
DEFAULT_MAX_AGE = timedelta(hours=6)  # a trade or an alert older than this is noise
DISCORD_MAX_CONTENT = 2000
TRADE_EVENTS = {"open": "entry", "closed": "exit"}
EVENT_LABELS = {"entry": "Trade entries", "exit": "Trade exits",
                "alert": "Alerts (auto-pause, order failure, drift, vault, plan)",
                "daily_digest": "Daily digest (each bot's P&L of the UTC day)"}


def fit_key(key: str) -> str:
    """A dedup key that fits the 64-character column (long keys become their SHA-256)."""
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()


# --- Adding, switching, removing ---------------------------------------------------------


@transaction.atomic
def channel_add(*, tenant: Tenant, actor: Actor, kind: str, target: str,
                switches: Mapping[str, bool] | None = None,
                ) -> tuple[NotificationChannel, str | None]:
    """Add an e-mail or webhook channel (admin and above, or a key with the admin scope).

    Returns the channel and, for a webhook, its signing secret: it exists nowhere else but
    the vault and is never shown again. A webhook's URL goes to the vault as well; the row
    keeps only its host.
    """
    actor.require(Scope.ADMIN)
    target = _target_cleaned(kind, target)
    switches = _switches_checked(switches or {})
    channels = NotificationChannel.objects.for_tenant(tenant)
    if channels.count() >= MAX_CHANNELS_PER_TENANT:
        raise ValidationFailed(f"A workspace can have at most {MAX_CHANNELS_PER_TENANT} "
                               f"channels; remove one first.", field="target")
    webhook = kind == NotificationChannel.Kind.WEBHOOK
    channel = NotificationChannel.objects.create(
        tenant=tenant, kind=kind, target=webhook_display_form(target) if webhook else target,
        created_by=actor.user, **switches)
    secret = None
    if webhook:
        secret = secrets.token_urlsafe(SECRET_BYTES)
        store_secret(tenant, channel.secret_name, target, field=URL_FIELD)
        store_secret(tenant, channel.secret_name, secret, field=SECRET_FIELD)
    audit_record(tenant=tenant, actor=actor, action="notifications.channel_add",
                 target=channel.display_target,
                 details={"kind": kind, **{e: channel.wants(e) for e in CHANNEL_EVENTS}})
    return channel, secret


def _target_cleaned(kind: str, target: str) -> str:
    if kind == NotificationChannel.Kind.EMAIL:
        return outgoing.email_cleaned(target)
    if kind == NotificationChannel.Kind.WEBHOOK:
        return outgoing.webhook_url_cleaned(target)
    raise ValidationFailed("Choose e-mail or webhook.", field="kind")


def _switches_checked(switches: Mapping[str, Any]) -> dict[str, bool]:
    unknown = sorted(set(switches) - set(CHANNEL_EVENTS))
    if unknown:
        raise ValidationFailed(f"Unknown event(s): {', '.join(unknown)}; choose from "
                               f"{', '.join(CHANNEL_EVENTS)}.", field=unknown[0])
    return {name: bool(value) for name, value in switches.items()}


@transaction.atomic
def channel_update(*, tenant: Tenant, actor: Actor, channel_id: int,
                   **switches: bool) -> NotificationChannel:
    """Switch a channel's events (entry, exit, alert, daily_digest) on or off (admin+)."""
    actor.require(Scope.ADMIN)
    switches = _switches_checked(switches)
    channel = NotificationChannel.objects.locked_for_tenant(
        tenant, channel_id, message="No such notification channel.")
    for name, value in switches.items():
        setattr(channel, name, value)
    if switches:
        channel.save(update_fields=list(switches))
    audit_record(tenant=tenant, actor=actor, action="notifications.channel_update",
                 target=channel.display_target, details=switches)
    return channel


@transaction.atomic
def channel_remove(*, tenant: Tenant, actor: Actor, channel_id: int) -> NotificationChannel:
    """Remove a channel, its queued messages and (for a webhook) its URL and secret
    (admin+)."""
    actor.require(Scope.ADMIN)
    channel = NotificationChannel.objects.locked_for_tenant(
        tenant, channel_id, message="No such notification channel.")
    delete_secret(tenant, channel.secret_name)
    label = channel.display_target
    channel.delete()
    audit_record(tenant=tenant, actor=actor, action="notifications.channel_remove",
                 target=label, details={"kind": channel.kind})
    return channel


# --- Fan-out -------------------------------------------------------------------------------


def channel_fan_out(*, tenant_id: int, event: str, subject: str, text: str, dedup_key: str,
                    data: dict | None = None) -> int:
    """Queue one message for every active channel of the tenant that wants `event`, once per
    `dedup_key`; returns how many were queued."""
    return _queue(selectors.channel_list_wanting(tenant=tenant_id, event=event), event=event,
                  subject=subject, text=text, dedup_key=dedup_key, data=data or {})


def _queue(channels: list[NotificationChannel], *, event: str, subject: str, text: str,
           dedup_key: str, data: dict) -> int:
    if not channels:
        return 0
    now = timezone.now()
    with transaction.atomic():
        return sum(_delivery_create(c, event, subject, text, dedup_key, data, now) is not None
                   for c in channels)


def _delivery_create(channel: NotificationChannel, event: str, subject: str, text: str,
                     dedup_key: str, data: dict, now: datetime) -> ChannelDelivery | None:
    try:
        with transaction.atomic():
            delivery = ChannelDelivery.objects.create(
                tenant_id=channel.tenant_id, channel=channel, event=event,
                dedup_key=fit_key(dedup_key), subject=subject[:200], text=text, data=data,
                created_at=now, next_attempt_at=now)
    except IntegrityError:
        return None  # queued before: the same alert, trade or day
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return delivery


def _enqueue(delivery_id: int) -> None:
    deliver_channel_message.delay(delivery_id)


def bot_data(bot: Bot | None) -> dict:
    """The `bot` field of a webhook body."""
    return {"bot": {"id": bot.pk, "name": bot.name}} if bot is not None else {}


def channel_trade_event(*, tenant_id: int, bot_id: int, trade: dict) -> int:
    """A bot opened (entry) or closed (exit) a trade: tell the channels that want it, once per
    trade and event. Costs one query when no channel wants it."""
    event = TRADE_EVENTS.get(trade.get("status"))
    if event is None or trade.get("id") is None:
        return 0
    wanting = selectors.channel_list_wanting(tenant=tenant_id, event=event)
    if not wanting:
        return 0
    bot = selectors.bot_get(tenant=tenant_id, bot_id=bot_id)
    text, subject = _trade_text(bot, event, trade)
    return _queue(wanting, event=event, subject=subject, text=text,
                  dedup_key=f"{event}:{trade['id']}", data=bot_data(bot) | {"trade": trade})


def _trade_text(bot: Bot, event: str, trade: dict) -> tuple[str, str]:
    amount = messages.amount(Decimal(trade.get("amount") or "0"))
    if event == "entry":
        price = messages.amount(Decimal(trade.get("entry_price") or "0"))
        return (messages.trade_entry(bot_name=bot.name, symbol=bot.symbol, amount_text=amount,
                                     price_text=price), f"Entry: {bot.name} {bot.symbol}")
    price = messages.amount(Decimal(trade.get("exit_price") or "0"))
    pnl = Decimal(trade["pnl"]) if trade.get("pnl") is not None else None
    return (messages.trade_exit(bot_name=bot.name, symbol=bot.symbol, amount_text=amount,
                                price_text=price, pnl=pnl, quote=bot.quote_currency,
                                reason=trade.get("exit_reason") or ""),
            f"Exit: {bot.name} {bot.symbol} {messages.money(pnl, bot.quote_currency)}")


def on_tenant_events(tenant_id: int, raw: list[tuple[str, int | None, dict]]) -> None:
    """Subscriber of the event seam (tenants.events): trade facts become entries and exits.
    Never raises into the publisher (a tick); a failure is logged and the next fact goes on."""
    for event_type, bot_id, data in raw:
        if event_type != "trade" or bot_id is None:
            continue
        try:
            channel_trade_event(tenant_id=tenant_id, bot_id=bot_id, trade=data)
        except Exception:  # a notification must never break the trade that caused it
            logger.exception("channel trade event for bot %s failed", bot_id)


# --- Daily digest --------------------------------------------------------------------------


def digest_send_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue yesterday's (UTC) digest for every digest channel that has not had it; returns
    how many were queued. Each tenant's day is read once; safe to run every minute from any
    number of workers (the dedup key is the day)."""
    now = now or timezone.now()
    day = now.astimezone(UTC).date() - timedelta(days=1)
    key = f"digest:{day.isoformat()}"
    day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    due = selectors.channels_due_for_digest(dedup_key=key, created_before=day_end, limit=limit)
    queued = 0
    for _tenant_id, group in itertools.groupby(due, key=lambda channel: channel.tenant_id):
        group = list(group)
        queued += _digest_queue(group, day, key)
    return queued


def _digest_queue(channels: list[NotificationChannel], day: date, key: str) -> int:
    digest = selectors.tenant_day_digest(tenant=channels[0].tenant, day=day)
    data = {"digest": {"day": day.isoformat(), "total": _plain(digest.total), "bots": [
        {"id": b.id, "name": b.name, "symbol": b.symbol, "status": b.status,
         "trades": b.trades, "realized": _plain(b.realized), "quote": b.quote}
        for b in digest.bots]}}
    return _queue(channels, event="daily_digest", subject=f"Daily digest {day.isoformat()}",
                  text=messages.daily_digest(digest), dedup_key=key, data=data)


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


# --- Delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelOutcome:
    """What one attempt did; `retry_in` (seconds) is set when the task should try again."""

    status: str
    retry_in: float | None = None


def channel_delivery_attempt(*, delivery_id: int,
                             now: datetime | None = None) -> ChannelOutcome:
    """Claim the delivery, send it once, and record the answer: sent; 429, 5xx, timeouts and
    a mail server that is down -> retried with backoff (or the receiver's Retry-After); any
    other 4xx, a redirect or a refused address -> failed at once; failed after
    DELIVERY_MAX_ATTEMPTS."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return ChannelOutcome("skipped")
    delivery = selectors.channel_delivery_get(delivery_id=delivery_id)
    refusal = _why_not_deliverable(delivery, now)
    if refusal is not None:
        return _finish(delivery, *refusal)
    return _record(delivery, _send(delivery, now), now)


def _claim(delivery_id: int, now: datetime) -> bool:
    deliveries = ChannelDelivery.objects.all_tenants(reason="a delivery task carries only its "
                                                            "id")
    return deliveries.filter(
        pk=delivery_id, status=ChannelDelivery.Status.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + DELIVERY_LEASE, attempts=F("attempts") + 1) == 1


def _why_not_deliverable(delivery: ChannelDelivery, now: datetime) -> tuple[str, str] | None:
    channel = delivery.channel
    if not channel.active:
        return ChannelDelivery.Status.DROPPED, "channel switched off"
    if not delivery.tenant.is_active:
        return ChannelDelivery.Status.DROPPED, "workspace suspended"
    if not channel.wants(delivery.event):
        return ChannelDelivery.Status.DROPPED, f"{delivery.event} switched off"
    if delivery.created_at < now - MAX_AGE.get(delivery.event, DEFAULT_MAX_AGE):
        return ChannelDelivery.Status.FAILED, "too old to be useful"
    return None


def _send(delivery: ChannelDelivery, now: datetime) -> outgoing.SendResult:
    channel = delivery.channel
    if channel.kind == NotificationChannel.Kind.EMAIL:
        return outgoing.email_send(
            to=channel.target, subject=f"[{delivery.tenant.name}] {delivery.subject}",
            body=messages.channel_email_body(text=delivery.text,
                                             tenant_name=delivery.tenant.name))
    url = _vault_field(delivery, URL_FIELD, "webhook URL")
    if isinstance(url, outgoing.SendResult):
        return url
    secret = _vault_field(delivery, SECRET_FIELD, "signing secret")
    if isinstance(secret, outgoing.SendResult):
        return secret
    return outgoing.webhook_post(url=url, secret=secret, payload=webhook_payload(delivery),
                                 timestamp=int(now.timestamp()))


def _vault_field(delivery: ChannelDelivery, field: str,
                 what: str) -> str | outgoing.SendResult:
    """One field of the channel's vault entry, or the SendResult that says why not."""
    try:
        return load_secret(delivery.tenant_id, delivery.channel.secret_name, field=field)
    except VaultSecretMissing:
        return outgoing.SendResult(ok=False, final=True, error=f"{what} missing")
    except VaultError:  # the vault alerts on its own; an operator may fix the master keys
        return outgoing.SendResult(ok=False, error=f"{what} could not be opened")


def webhook_payload(delivery: ChannelDelivery) -> dict:
    """The webhook body: `content` (Discord) and `text` (Slack) plus structured fields; the
    delivery id lets a receiver drop a retry it already took."""
    extra = {k: v for k, v in delivery.data.items() if k != "bot"}
    return extra | {
        "content": delivery.text[:DISCORD_MAX_CONTENT], "text": delivery.text,
        "event": delivery.event, "subject": delivery.subject,
        "tenant": {"id": delivery.tenant_id, "name": delivery.tenant.name},
        "bot": delivery.data.get("bot"), "time": delivery.created_at.isoformat(),
        "delivery": delivery.pk}


def _record(delivery: ChannelDelivery, result: outgoing.SendResult,
            now: datetime) -> ChannelOutcome:
    if result.ok:
        return _finish(delivery, ChannelDelivery.Status.SENT, "", sent_at=now)
    logger.info("channel delivery %s (channel %s) not sent: %s", delivery.pk,
                delivery.channel_id, result.error)
    if result.final or delivery.attempts >= DELIVERY_MAX_ATTEMPTS:
        return _finish(delivery, ChannelDelivery.Status.FAILED, result.error)
    seconds = result.retry_after if result.retry_after is not None else backoff_seconds(
        delivery.attempts)
    ChannelDelivery.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.pk).update(
        next_attempt_at=now + timedelta(seconds=seconds), last_error=result.error[:300])
    return ChannelOutcome("retry", retry_in=seconds)


def backoff_seconds(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: 5, 10, 20 … at most 10 minutes."""
    return min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)


def _finish(delivery: ChannelDelivery, status: str, error: str,
            sent_at: datetime | None = None) -> ChannelOutcome:
    ChannelDelivery.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.pk).update(
        status=status, last_error=error[:300], sent_at=sent_at)
    return ChannelOutcome(str(status))


def channel_retry_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-queue pending channel deliveries whose retry is overdue (a lost task, or eager mode,
    where a task cannot wait for its countdown); the claim keeps this from double-sending."""
    now = now or timezone.now()
    ids = selectors.channel_deliveries_due_for_retry(now=now, grace=SWEEP_GRACE, limit=limit)
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)
