"""Inbound signals: a bot's webhook takes TradingView-style alerts (enter / exit).

A hook is a public token (it names the hook in the URL) and a secret shown once (only its
SHA-256 is kept). An alert is a JSON object:

    {"secret": "...", "action": "enter" | "exit", "alert_id": "...", "share": 50}

`secret` may come in the X-Aitrader-Secret header instead (TradingView cannot set headers,
so its alerts carry it in the body; other senders may keep it out of the body); the header
wins when both are given. `buy` / `sell` are accepted for enter / exit (TradingView's
`{{strategy.order.action}}`); `share` is the percent of the position an exit sells (default
all, the bounds of a manual exit); other fields are ignored, so a message may carry the
ticker or price for the sender's own records.

An accepted alert becomes a manual order (`manual_order_request`: the same idempotent order
path, risk checks, audit and Thought as "enter now" / "exit now" on the bot page), requested
by the "signal webhook", an actor holding only the control scope of the hook's tenant. Each
alert id counts once per bot: a repeat answers the first outcome and changes nothing. A bot
that cannot act now (paused for an entry, holding nothing for an exit, archived, busy with
another request) refuses, and the refusal is that alert's recorded outcome.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from aitrader.errors import Conflict, NotFound, ServiceError, ValidationFailed
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.services import audit_record
from trading.core import money
from trading.core.backtest.config import as_percent
from trading.models import Bot, ManualOrder, SignalAlert, SignalHook, Thought
from trading.services.engine_records import thought_record
from trading.services.manual import WORDS, manual_order_request

logger = logging.getLogger(__name__)

SIGNAL_ACTOR = "signal webhook"
# The share an exit sells, in percent: the manual exit's own bounds (1 to 100).
EXIT_SHARE_PERCENT = replace(as_percent(money.EXIT_FRACTION),
                             label="The share to sell, in percent,")
ALIASES = {"enter": ManualOrder.Action.ENTER, "buy": ManualOrder.Action.ENTER,
           "exit": ManualOrder.Action.EXIT, "sell": ManualOrder.Action.EXIT}
ALERT_ID_MAX = SignalAlert._meta.get_field("alert_id").max_length
TOKEN_MAX = SignalHook._meta.get_field("token").max_length
NOT_FOUND = "No such signal hook, or the secret does not match."
# Compared against when the token is unknown, so that answer takes as long as a bad secret.
_NO_HASH = hashlib.sha256(b"no such hook").hexdigest()


@dataclass(frozen=True)
class SignalResult:
    """What became of an alert; `repeat` when its id had been seen before (nothing changed)."""

    alert: SignalAlert
    repeat: bool

    @property
    def queued(self) -> bool:
        return self.alert.manual_order_id is not None

    @property
    def outcome(self) -> str:
        return self.alert.outcome


def signal_actor(tenant: Tenant, *, ip: str | None = None) -> Actor:
    """Who acts for an alert: the hook's tenant, the control scope only."""
    return Actor.for_integration(tenant, via=SIGNAL_ACTOR, scopes=frozenset({Scope.CONTROL}),
                                 ip=ip)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- Enabling and disabling -------------------------------------------------------------------

@transaction.atomic
def signal_hook_enable(*, tenant: Tenant, actor: Actor, bot_id: int) -> tuple[SignalHook, str]:
    """Enable the bot's signal webhook, or rotate it: a new token and secret, the old ones
    stop working at once. Returns the hook and its secret (shown once, never stored)."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    if bot.archived_at is not None:
        raise Conflict(f"{bot.name} is archived: unarchive it to take signals.")
    secret = secrets.token_urlsafe(32)
    hook = SignalHook.objects.for_tenant(tenant).filter(bot=bot).first()
    rotated = hook is not None and hook.active
    if hook is None:
        hook = SignalHook(tenant=tenant, bot=bot)
    hook.token, hook.secret_hash, hook.active = secrets.token_urlsafe(32), _hash(secret), True
    hook.rotated_at = timezone.now() if rotated else hook.rotated_at
    hook.save()
    audit_record(tenant=tenant, actor=actor, action="bot.signal_hook_enable", target=bot.name,
                 details={"rotated": rotated})
    return hook, secret


@transaction.atomic
def signal_hook_disable(*, tenant: Tenant, actor: Actor, bot_id: int) -> SignalHook | None:
    """Turn the bot's signal webhook off (its token and secret stop working); a hook that is
    already off stays off, unaudited."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    hook = SignalHook.objects.for_tenant(tenant).filter(bot=bot).first()
    if hook is None or not hook.active:
        return hook
    hook.active = False
    hook.save(update_fields=["active"])
    audit_record(tenant=tenant, actor=actor, action="bot.signal_hook_disable", target=bot.name)
    return hook


# --- Receiving --------------------------------------------------------------------------------

def signal_receive(*, token: str, payload: Any, ip: str | None,
                   header_secret: str | None = None) -> SignalResult:
    """Carry out one alert sent to the hook `token` (see the module docstring).

    NotFound (the same answer) for an unknown or disabled token and a wrong or missing
    secret; ValidationFailed naming the field for a bad action, alert id or share."""
    if not isinstance(payload, dict):
        raise ValidationFailed("The body must be a JSON object.")
    hook = _hook_proven(token, header_secret if header_secret else payload.get("secret"))
    action, alert_id, fraction = _alert_fields(payload)
    seen = _alert_seen(hook, alert_id)
    if seen is not None:
        return SignalResult(seen, repeat=True)
    try:
        with transaction.atomic():
            return SignalResult(_alert_record(hook, action, alert_id, fraction, ip),
                                repeat=False)
    except IntegrityError:
        # The same alert id arrived twice at once and the other request recorded it first.
        seen = _alert_seen(hook, alert_id)
        if seen is None:
            raise
        return SignalResult(seen, repeat=True)


def _hook_proven(token: str, secret: Any) -> SignalHook:
    """The active hook of `token` whose secret `secret` is, compared in constant time."""
    hook = None
    if isinstance(token, str) and 0 < len(token) <= TOKEN_MAX:
        hook = (SignalHook.objects.all_tenants(reason="a webhook finds its tenant by its token")
                .select_related("bot", "tenant").filter(token=token, active=True).first())
    offered = _hash(secret) if isinstance(secret, str) else ""
    matches = hmac.compare_digest(offered, hook.secret_hash if hook else _NO_HASH)
    if hook is None or not matches:
        if hook is not None:
            logger.info("signal hook %s: an alert with a wrong secret", hook.pk)
        raise NotFound(NOT_FOUND)
    return hook


def _alert_fields(payload: dict) -> tuple[str, str, Decimal | None]:
    """(action, alert id, share of the position as a fraction) from a proven alert."""
    raw_action = payload.get("action")
    action = ALIASES.get(raw_action.strip().lower()) if isinstance(raw_action, str) else None
    if action is None:
        raise ValidationFailed("action must be enter or exit (or buy / sell).", field="action")
    alert_id = payload.get("alert_id")
    alert_id = str(alert_id).strip() if isinstance(alert_id, str | int) and \
        not isinstance(alert_id, bool) else ""
    if not alert_id or len(alert_id) > ALERT_ID_MAX:
        raise ValidationFailed(f"alert_id must be a text of 1 to {ALERT_ID_MAX} characters that "
                               "names this alert (a repeat of it changes nothing).",
                               field="alert_id")
    return action, alert_id, _share(action, payload.get("share"))


def _share(action: str, share: Any) -> Decimal | None:
    if share is None:
        return None
    if action != ManualOrder.Action.EXIT:
        raise ValidationFailed("share applies to an exit only.", field="share")
    if isinstance(share, bool) or not isinstance(share, str | int | float):
        raise ValidationFailed("share must be a number of percent.", field="share")
    percent = EXIT_SHARE_PERCENT.check(str(share), field="share")
    return percent / 100


def _alert_seen(hook: SignalHook, alert_id: str) -> SignalAlert | None:
    return (SignalAlert.objects.for_tenant(hook.tenant_id)
            .filter(bot_id=hook.bot_id, alert_id=alert_id).first())


def _alert_record(hook: SignalHook, action: str, alert_id: str, fraction: Decimal | None,
                  ip: str | None) -> SignalAlert:
    """Claim the alert id (the unique constraint), ask for the order, record the outcome."""
    alert = SignalAlert.objects.create(tenant_id=hook.tenant_id, bot_id=hook.bot_id,
                                       alert_id=alert_id, action=action)
    actor = signal_actor(hook.tenant, ip=ip)
    alert.manual_order, alert.outcome = _alert_carry_out(hook, actor, action, fraction)
    alert.save(update_fields=["manual_order", "outcome"])
    SignalHook.objects.for_tenant(hook.tenant_id).filter(pk=hook.pk).update(
        last_used_at=timezone.now())
    audit_record(tenant=hook.tenant, actor=actor, action="bot.signal_alert",
                 target=hook.bot.name,
                 details={"alert_id": alert_id, "action": action, "outcome": alert.outcome})
    return alert


def _alert_carry_out(hook: SignalHook, actor: Actor, action: str,
                     fraction: Decimal | None) -> tuple[ManualOrder | None, str]:
    """The manual order the alert asks for and its outcome in words; a refusal (the rules of
    manual trading, or an archived bot) is the outcome, with a Thought on the bot's feed."""
    bot = hook.bot
    try:
        if bot.archived_at is not None:
            raise Conflict(f"{bot.name} is archived.")
        request = manual_order_request(tenant=hook.tenant, actor=actor, bot_id=bot.pk,
                                       action=action, fraction=fraction)
    except ServiceError as exc:
        thought_record(bot=bot, kind=Thought.Kind.CONTROL,
                       summary=f"A signal alert to {WORDS[action]} was refused: "
                               f"{exc.message}"[:300])
        return None, f"refused: {exc.message}"[:300]
    share = ""
    if fraction is not None and fraction < 1:
        share = f" ({(fraction * 100).normalize():f} %)"
    return request, f"queued: {WORDS[action]}{share}; the next tick carries it out"
