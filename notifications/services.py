"""Writes of the notifications app: linking chats, check-ins, alerts and their delivery.

Every surface (settings page, Telegram commands, CLI, tasks, signal receivers) calls these.
Two rules hold across workers and restarts because they live in the database:

* a check-in slot is claimed by a conditional UPDATE of the link's `next_checkin_at`
  (compare-and-set on the value that was due), so exactly one worker wins each slot;
* a message is a TelegramDelivery row, unique per (link, dedup key), and each send attempt
  first claims the row (status pending and due -> lease), so a retry and a sweep never both
  send it.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aitrader.errors import Conflict, Forbidden, NotFound, ValidationFailed
from notifications import messages, selectors, transport
from notifications import services_channels as channels
from notifications.models import (
    AlertKind,
    NotificationSettings,
    TelegramDelivery,
    TelegramLink,
    TelegramLinkCode,
)
from notifications.tasks import deliver_message
from tenants.actors import Actor
from tenants.models import Role, Scope, Tenant, User
from tenants.plans import Plan
from tenants.selectors import membership_list
from tenants.services import audit_record
from trading.models import Bot

logger = logging.getLogger(__name__)

LINK_CODE_BYTES = 20  # 160 bits, URL-safe: fits Telegram's 64-character start parameter
LINK_CODE_TTL = timedelta(minutes=10)
CHECKIN_MIN_MINUTES = 5
CHECKIN_MAX_MINUTES = 24 * 60
DELIVERY_LEASE = timedelta(seconds=60)  # an attempt in flight; a crashed one is retried after
DELIVERY_MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 600
SWEEP_GRACE = timedelta(seconds=30)  # the task's own retry goes first; the sweep catches strays
MAX_AGE = {TelegramDelivery.Kind.CHECKIN: timedelta(minutes=30)}  # a stale check-in is noise
DEFAULT_MAX_AGE = timedelta(hours=6)
ALERT_KINDS = {k.value for k in AlertKind}


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


# --- Link codes and links ------------------------------------------------------------------------


@transaction.atomic
def link_code_issue(*, tenant: Tenant, actor: Actor,
                    user: User | None = None) -> tuple[TelegramLinkCode, str]:
    """Mint a one-time code that links a chat to `tenant` as `user` (default: the actor).

    Returns the row and the code, which exists nowhere else (only its hash is stored).
    """
    actor.require(Scope.ADMIN)  # a signed-in admin+, or a key with the admin scope
    user = user or actor.user
    if user is None:
        raise ValidationFailed("Name the member the chat will act as.", field="user")
    if not membership_list(tenant=tenant).filter(user=user).exists():
        raise ValidationFailed(f"{user.email} is not a member of this workspace.", field="user")
    code = secrets.token_urlsafe(LINK_CODE_BYTES)
    now = timezone.now()
    row = TelegramLinkCode.objects.create(
        tenant=tenant, code_hash=_code_hash(code), user=user, created_by=actor.user,
        created_at=now, expires_at=now + LINK_CODE_TTL)
    audit_record(tenant=tenant, actor=actor, action="telegram.link_code", target=user.email)
    return row, code


@dataclass(frozen=True)
class ChatInfo:
    """Who sent /start <code>: the chat and the Telegram account."""

    chat_id: int
    chat_type: str = "private"
    title: str = ""
    telegram_user_id: int | None = None
    telegram_username: str = ""


@transaction.atomic
def link_redeem(*, code: str, chat: ChatInfo) -> TelegramLink:
    """Link `chat` to the code's tenant and member; the code works once, for 10 minutes.

    The tenant comes only from the code row, so a code can never bind a chat elsewhere; a chat
    already linked (to any tenant) is refused rather than silently moved, and the refused code
    stays usable (the transaction rolls back).
    """
    now = timezone.now()
    code_hash = _code_hash(code)
    # Spending the code is the first statement: a conditional UPDATE that one of two racing
    # /start commands wins, on any database (SQLite included).
    codes = TelegramLinkCode.objects.all_tenants(reason="the chat holds only the code, which "
                                                        "names its tenant")
    spent = codes.filter(
        code_hash=code_hash, used_at__isnull=True, expires_at__gt=now,
    ).update(used_at=now, used_by_chat_id=chat.chat_id)
    if spent != 1:
        raise NotFound("This link code is not valid: it may be mistyped, used or expired. "
                       "Create a new one under Settings → Telegram.")
    row = codes.select_related("tenant", "user").get(code_hash=code_hash)
    _check_chat_free(chat.chat_id, row.tenant_id)
    membership = membership_list(tenant=row.tenant).filter(user=row.user).first()
    if membership is None or not row.tenant.is_active:
        raise Forbidden("The member this code was made for can no longer use this workspace.")
    link = _link_create(row, chat, now)
    audit_record(tenant=row.tenant, actor=Actor.for_member(membership, via="telegram"),
                 action="telegram.link", target=link.label,
                 details={"chat_id": chat.chat_id, "chat_type": chat.chat_type})
    return link


def _check_chat_free(chat_id: int, tenant_id: int) -> None:
    existing = selectors.link_get_by_chat(chat_id=chat_id)
    if existing is None:
        return
    if existing.tenant_id == tenant_id:
        raise Conflict("This chat is already linked to this workspace.")
    raise Conflict("This chat is already linked to another workspace; an admin of that "
                   "workspace must unlink it first.")


def _link_create(row: TelegramLinkCode, chat: ChatInfo, now: datetime) -> TelegramLink:
    try:
        with transaction.atomic():
            return TelegramLink.objects.create(
                tenant=row.tenant, chat_id=chat.chat_id, chat_type=chat.chat_type[:20],
                chat_title=chat.title[:255], user=row.user, created_by=row.created_by,
                telegram_user_id=chat.telegram_user_id,
                telegram_username=(chat.telegram_username or "")[:64], created_at=now)
    except IntegrityError:  # another /start for this chat won the race
        raise Conflict("This chat was linked a moment ago; send /status.") from None


@transaction.atomic
def link_unlink(*, tenant: Tenant, actor: Actor, link_id: int) -> TelegramLink:
    """Unlink a chat (admin and above): it gets nothing more and its commands stop working."""
    actor.require(Scope.ADMIN)
    link = _locked_active_link(tenant, link_id)
    _deactivate(link, f"unlinked by {actor.label}")
    audit_record(tenant=tenant, actor=actor, action="telegram.unlink", target=link.label,
                 details={"chat_id": link.chat_id})
    return link


def _locked_active_link(tenant: Tenant, link_id: int) -> TelegramLink:
    # An unlinked chat is gone to its tenant: the same NotFound as another tenant's.
    link = TelegramLink.objects.locked_for_tenant(tenant, link_id, missing_ok=True)
    if link is None or not link.active:
        raise NotFound("No such linked chat.")
    return link


def _deactivate(link: TelegramLink, reason: str) -> None:
    link.active = False
    link.deactivated_at = timezone.now()
    link.deactivated_reason = reason[:200]
    link.save(update_fields=["active", "deactivated_at", "deactivated_reason"])


def link_deactivate(*, link_id: int, reason: str) -> bool:
    """The platform turns a link off (chat blocked or deleted, member gone); True if it was on.

    A conditional UPDATE first, so concurrent failures deactivate and audit once.
    """
    links = TelegramLink.objects.all_tenants(reason="the platform turns a chat off by its id")
    with transaction.atomic():
        changed = links.filter(pk=link_id, active=True).update(
            active=False, deactivated_at=timezone.now(), deactivated_reason=reason[:200])
        if not changed:
            return False
        link = links.select_related("tenant").get(pk=link_id)
        audit_record(tenant=link.tenant, actor=Actor.system(link.tenant, via="telegram"),
                     action="telegram.deactivate", target=link.label,
                     details={"chat_id": link.chat_id, "reason": reason[:200]})
    logger.info("telegram link %s deactivated: %s", link_id, reason)
    return True


def link_deactivate_for_member(*, tenant_id: int, user_id: int) -> int:
    """Turn off a removed member's chats; their check-ins must not reach an outsider."""
    ids = list(TelegramLink.objects.for_tenant(tenant_id).filter(
        user_id=user_id, active=True).values_list("id", flat=True))
    return sum(link_deactivate(link_id=i, reason="member left the workspace") for i in ids)


@transaction.atomic
def link_set_checkins(*, tenant: Tenant, actor: Actor, link_id: int,
                      enabled: bool | None = None,
                      interval_minutes: int | None = None) -> TelegramLink:
    """Turn a chat's check-ins on or off, or set its own interval (which turns them on).

    The chat's own member may change it (any role: it only concerns their chat); admins too.
    """
    link = _locked_active_link(tenant, link_id)
    if actor.user is not None and actor.user.pk != link.user_id:
        actor.require_role(Role.ADMIN)
    changes = _checkin_changes(link, enabled, interval_minutes)
    for name, value in changes.items():
        setattr(link, name, value)
    link.save(update_fields=list(changes) or ["checkins_enabled"])
    audit_record(tenant=tenant, actor=actor, action="telegram.checkins", target=link.label,
                 details={"enabled": link.checkins_enabled,
                          "interval_minutes": link.checkin_interval_minutes})
    return link


def _checkin_changes(link: TelegramLink, enabled: bool | None,
                     interval_minutes: int | None) -> dict:
    changes: dict = {}
    if interval_minutes is not None:
        if not CHECKIN_MIN_MINUTES <= interval_minutes <= CHECKIN_MAX_MINUTES:
            raise ValidationFailed(f"Choose between {CHECKIN_MIN_MINUTES} and "
                                   f"{CHECKIN_MAX_MINUTES} minutes.", field="interval_minutes")
        changes["checkin_interval_minutes"] = interval_minutes
        enabled = True
    if enabled is not None:
        changes["checkins_enabled"] = enabled
    # Re-plan from the last check-in so the new rhythm applies at once; a chat that never had
    # one keeps "due now".
    if link.last_checkin_at is not None and (enabled or interval_minutes is not None):
        minutes = interval_minutes or link.checkin_interval_minutes or default_interval()
        changes["next_checkin_at"] = max(link.last_checkin_at + timedelta(minutes=minutes),
                                         timezone.now())
    return changes


def default_interval() -> int:
    """AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES."""
    return settings.AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES


def link_interval(link: TelegramLink) -> int:
    """A link's check-in interval in minutes (its own, else the platform default)."""
    return link.checkin_interval_minutes or default_interval()


# --- Notification settings -----------------------------------------------------------------------


@transaction.atomic
def notification_settings_update(*, tenant: Tenant, actor: Actor,
                                 **switches: bool) -> NotificationSettings:
    """Switch alert types on or off for the whole tenant (admin and above)."""
    actor.require(Scope.ADMIN)
    unknown = set(switches) - ALERT_KINDS
    if unknown:
        raise ValidationFailed(f"Unknown alert type(s): {', '.join(sorted(unknown))}.",
                               field=sorted(unknown)[0])
    row, _ = NotificationSettings.objects.for_tenant(tenant).select_for_update().get_or_create(
        tenant=tenant)
    for name, value in switches.items():
        setattr(row, name, bool(value))
    row.updated_at, row.updated_by = timezone.now(), actor.user
    row.save()
    audit_record(tenant=tenant, actor=actor, action="notifications.settings",
                 details={k: bool(v) for k, v in switches.items()})
    return row


# --- Check-ins ------------------------------------------------------------------------------------


def checkin_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """One pass: claim every due check-in and queue its message; returns how many were claimed.

    Safe to run from any number of workers at once: each slot is claimed by one of them.
    """
    if not settings.AITRADER_TELEGRAM_SEND_CHECKINS or not transport.is_configured():
        return 0
    now = now or timezone.now()
    claimed = 0
    for link_id in selectors.links_due_for_checkin(now=now, limit=limit):
        if checkin_claim(link_id=link_id, now=now) is not None:
            claimed += 1
    return claimed


def checkin_claim(*, link_id: int, now: datetime) -> TelegramDelivery | None:
    """Claim the link's due check-in slot and queue its message; None if not due or lost.

    The UPDATE is the first statement of its transaction and compares the due time it read:
    a concurrent worker that claimed the slot first changed it, so this UPDATE matches no row.
    """
    link = selectors.link_for_claim(link_id=link_id)
    if link is None or not _is_due(link, now):
        return None
    if selectors.link_membership(link=link) is None:
        link_deactivate(link_id=link.pk, reason="member left the workspace")
        return None
    due, interval = link.next_checkin_at, link_interval(link)
    with transaction.atomic():
        slot = TelegramLink.objects.for_tenant(link.tenant_id).filter(
            pk=link.pk, active=True, checkins_enabled=True)
        slot = slot.filter(next_checkin_at__isnull=True) if due is None \
            else slot.filter(next_checkin_at=due)
        if slot.update(next_checkin_at=_next_due(due, now, interval), last_checkin_at=now) != 1:
            return None
        text = messages.checkin(selectors.tenant_status(tenant=link.tenant, now=now), now=now,
                                interval_minutes=interval)
        key = f"checkin:{due.isoformat() if due else 'first'}"
        return _delivery_create(link, TelegramDelivery.Kind.CHECKIN, key, text, now)


def _is_due(link: TelegramLink, now: datetime) -> bool:
    return link.next_checkin_at is None or link.next_checkin_at <= now


def _next_due(due: datetime | None, now: datetime, interval_minutes: int) -> datetime:
    # Keep the rhythm (due + interval) but never schedule into the past: after an outage
    # the chat gets one check-in, not a burst of missed ones.
    step = timedelta(minutes=interval_minutes)
    if due is not None and due + step > now:
        return due + step
    return now + step


# --- Alerts ---------------------------------------------------------------------------------------


def alert_notify(*, tenant_id: int, kind: str, text: str, dedup_key: str,
                 bot: Bot | None = None) -> int:
    """Queue an alert for every linked chat of the tenant and every e-mail or webhook channel
    with its alert switch on, once per `dedup_key`.

    Returns how many messages were queued. Chats get nothing when the type is switched off
    (the tenant's alert switches are Telegram's), nothing is linked, or Telegram is not
    configured; a channel has its own alert switch. The same alert is never queued twice.
    """
    if kind not in ALERT_KINDS:
        raise ValidationFailed(f"Unknown alert type '{kind}'.", field="kind")
    queued = channels.channel_fan_out(
        tenant_id=tenant_id, event="alert", subject=AlertKind(kind).label, text=text,
        dedup_key=f"{kind}:{dedup_key}", data={"kind": str(kind)} | channels.bot_data(bot))
    if not transport.is_configured():
        return queued
    if not selectors.notification_settings_get(tenant=tenant_id).allows(kind):
        return queued
    now = timezone.now()
    with transaction.atomic():
        for link in selectors.link_list(tenant=tenant_id):
            if _delivery_create(link, kind, f"{kind}:{dedup_key}", text, now) is not None:
                queued += 1
    return queued


def alert_bot_auto_paused(*, tenant_id: int, bot_id: int, reason: str) -> int:
    """Alert that a circuit breaker paused a bot (one alert per pause event)."""
    bot = selectors.bot_get(tenant=tenant_id, bot_id=bot_id)
    event = bot.paused_at.isoformat() if bot.paused_at else reason
    return alert_notify(tenant_id=tenant_id, kind=AlertKind.AUTO_PAUSE,
                        text=messages.alert_auto_pause(bot_name=bot.name, symbol=bot.symbol,
                                                       reason=reason),
                        dedup_key=f"{bot_id}:{event}", bot=bot)


def alert_order_failed(*, tenant_id: int, bot_id: int, order_id: int | None,
                       error: str, side: str = "") -> int:
    """Alert that an order was rejected or failed (one alert per order)."""
    bot = selectors.bot_get(tenant=tenant_id, bot_id=bot_id)
    return alert_notify(tenant_id=tenant_id, kind=AlertKind.ORDER_FAILED,
                        text=messages.alert_order_failed(bot_name=bot.name, symbol=bot.symbol,
                                                         side=side, error=error[:300]),
                        dedup_key=f"{order_id or error[:40]}", bot=bot)


def alert_drift(*, tenant_id: int, bot_id: int, summary: str, dedup_key: str = "") -> int:
    """Alert that reconciliation found drift (one per bot per hour unless a key is given)."""
    bot = selectors.bot_get(tenant=tenant_id, bot_id=bot_id)
    key = dedup_key or f"{bot_id}:{timezone.now():%Y-%m-%dT%H}"
    return alert_notify(tenant_id=tenant_id, kind=AlertKind.DRIFT,
                        text=messages.alert_drift(bot_name=bot.name, summary=summary[:500]),
                        dedup_key=key, bot=bot)


def alert_plan_changed(*, tenant_id: int, old_plan: str, new_plan: str, reason: str) -> int:
    """Alert that the workspace's plan changed (one alert per change)."""
    return alert_notify(tenant_id=tenant_id, kind=AlertKind.BILLING,
                        text=messages.alert_plan_changed(old_plan=Plan(old_plan).label,
                                                         new_plan=Plan(new_plan).label,
                                                         reason=reason[:200]),
                        dedup_key=f"plan:{old_plan}:{new_plan}:{timezone.now().isoformat()}")


def alert_vault_failure(*, tenant_id: int, name: str | None, reason: str) -> int:
    """Alert that the vault could not open a secret (one per entry and reason per hour)."""
    key = f"{name or '-'}:{reason[:60]}:{timezone.now():%Y-%m-%dT%H}"
    return alert_notify(tenant_id=tenant_id, kind=AlertKind.VAULT,
                        text=messages.alert_vault(name=name, reason=reason[:200]),
                        dedup_key=key)


# --- Delivery -------------------------------------------------------------------------------------


def _dedup(key: str) -> str:
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()


def _delivery_create(link: TelegramLink, kind: str, key: str, text: str,
                     now: datetime) -> TelegramDelivery | None:
    """Store one message for `link` unless its key was stored before; send it after commit."""
    try:
        with transaction.atomic():
            delivery = TelegramDelivery.objects.create(
                tenant_id=link.tenant_id, link=link, kind=kind, dedup_key=_dedup(key),
                text=text[:transport.MAX_TEXT], created_at=now, next_attempt_at=now)
    except IntegrityError:
        return None  # the same alert or slot was queued already
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return delivery


def _enqueue(delivery_id: int) -> None:
    deliver_message.delay(delivery_id)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt did; `retry_in` (seconds) is set when the task should try again."""

    status: str
    retry_in: float | None = None


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> DeliveryOutcome:
    """Claim the delivery, send it once, and record what Telegram answered.

    Sent -> done. 429 -> retry after Telegram's retry_after. Blocked or deleted chat -> the
    link is deactivated and the message dropped. Other errors -> exponential backoff, then
    failed after DELIVERY_MAX_ATTEMPTS.
    """
    now = now or timezone.now()
    if not _delivery_claim(delivery_id, now):
        return DeliveryOutcome("skipped")
    delivery = selectors.delivery_get(delivery_id=delivery_id)
    refusal = _why_not_deliverable(delivery, now)
    if refusal is not None:
        return _delivery_finish(delivery, refusal[0], refusal[1])
    result = transport.send_text(delivery.link.chat_id, delivery.text)
    return _record_result(delivery, result, now)


def _delivery_claim(delivery_id: int, now: datetime) -> bool:
    deliveries = TelegramDelivery.objects.all_tenants(reason="a delivery task carries only "
                                                              "its id")
    return deliveries.filter(
        pk=delivery_id, status=TelegramDelivery.Status.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + DELIVERY_LEASE, attempts=F("attempts") + 1) == 1


def _why_not_deliverable(delivery: TelegramDelivery, now: datetime) -> tuple[str, str] | None:
    link = delivery.link
    if not link.active:
        return TelegramDelivery.Status.DROPPED, "chat unlinked"
    if not link.tenant.is_active:
        return TelegramDelivery.Status.DROPPED, "workspace suspended"
    if selectors.link_membership(link=link) is None:
        link_deactivate(link_id=link.pk, reason="member left the workspace")
        return TelegramDelivery.Status.DROPPED, "member left the workspace"
    if delivery.created_at < now - MAX_AGE.get(delivery.kind, DEFAULT_MAX_AGE):
        return TelegramDelivery.Status.FAILED, "too old to be useful"
    return None


def _record_result(delivery: TelegramDelivery, result: transport.SendResult,
                   now: datetime) -> DeliveryOutcome:
    if result.ok:
        return _delivery_finish(delivery, TelegramDelivery.Status.SENT, "", sent_at=now)
    if result.chat_gone:
        link_deactivate(link_id=delivery.link_id, reason=f"Telegram: {result.error}")
        return _delivery_finish(delivery, TelegramDelivery.Status.DROPPED, result.error)
    if result.migrated_to is not None:
        _link_move_chat(delivery.link, result.migrated_to)
        return _delivery_retry(delivery, 0, result.error, now)
    if result.refused or delivery.attempts >= DELIVERY_MAX_ATTEMPTS:
        return _delivery_finish(delivery, TelegramDelivery.Status.FAILED, result.error)
    if result.retry_after is not None:
        return _delivery_retry(delivery, result.retry_after, result.error, now)
    backoff = min(BACKOFF_BASE_SECONDS * 2 ** (delivery.attempts - 1), BACKOFF_MAX_SECONDS)
    return _delivery_retry(delivery, backoff, result.error, now)


def _delivery_retry(delivery: TelegramDelivery, seconds: float, error: str,
                    now: datetime) -> DeliveryOutcome:
    TelegramDelivery.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.pk).update(
        next_attempt_at=now + timedelta(seconds=seconds), last_error=error[:300])
    return DeliveryOutcome("retry", retry_in=seconds)


def _delivery_finish(delivery: TelegramDelivery, status: str, error: str,
                     sent_at: datetime | None = None) -> DeliveryOutcome:
    TelegramDelivery.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.pk).update(
        status=status, last_error=error[:300], sent_at=sent_at)
    return DeliveryOutcome(str(status))


def _link_move_chat(link: TelegramLink, new_chat_id: int) -> None:
    # A group upgraded to a supergroup has a new id; the link follows it.
    try:
        with transaction.atomic():
            TelegramLink.objects.for_tenant(link.tenant_id).filter(pk=link.pk).update(
                chat_id=new_chat_id)
    except IntegrityError:  # the new chat is linked on its own already
        link_deactivate(link_id=link.pk, reason="group moved to a chat that is linked already")


def delivery_retry_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-queue pending deliveries whose retry is overdue (a lost task, or eager mode, where a
    task cannot wait for its countdown); the claim keeps this from double-sending."""
    now = now or timezone.now()
    ids = selectors.deliveries_due_for_retry(now=now, grace=SWEEP_GRACE, limit=limit)
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)
