"""Bot lifecycle: create, update, pause, resume, close all, circuit-breaker pauses.

Control actions are the same functions for the API, the pages, Telegram and the CLI: each
checks the actor, writes the audit row and publishes a status event after commit.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aitrader.errors import Conflict, ValidationFailed
from dashboard.events import publish_on_commit
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.plans import plan_check_count, plan_require_feature
from tenants.services import audit_record
from trading import selectors
from trading.models import Bot, Thought, TradingMode
from trading.breakers import BreakerSettings
from trading.services.engine_records import thought_record
from trading.signals import bot_auto_paused
from trading.strategies import get_strategy
from trading.strategies.presets import risk_for
from trading.timeframes import timeframe_ms

TICK_LEASE_SECONDS = 120
EDITABLE_FIELDS = ("name", "parameters", "preset", "risk", "breakers", "allowed_symbols",
                   "max_order_value", "capital")


def _validate_config(*, strategy: str, parameters: dict, preset: str, risk: dict,
                     timeframe: str, symbol: str, breakers: dict) -> dict:
    timeframe_ms(timeframe)
    if symbol.count("/") != 1 or not all(symbol.split("/")):
        raise ValidationFailed("Symbol must read BASE/QUOTE, e.g. BTC/USDT.", field="symbol")
    cleaned = get_strategy(strategy).validate_params(parameters or {})
    BreakerSettings.from_overrides(breakers)
    risk_for(preset, risk)  # raises ValidationFailed naming the bad field
    return cleaned


@transaction.atomic
def bot_create(*, tenant: Tenant, actor: Actor, name: str, account_id: int, symbol: str,
               timeframe: str, strategy: str, parameters: dict | None = None,
               preset: str = "balanced", risk: dict | None = None,
               capital: Decimal = Decimal("1000"), **extra: Any) -> Bot:
    """Create a running bot after checking role, plan limits and its configuration."""
    actor.require(Scope.CONTROL)
    account = selectors.exchange_account_get(tenant=tenant, account_id=account_id)
    plan_check_count(tenant.plan, "max_bots", selectors.bot_list(tenant=tenant).count())
    if account.mode == TradingMode.LIVE:
        plan_require_feature(tenant.plan, "live_trading")
    symbol = symbol.strip().upper()
    cleaned = _validate_config(strategy=strategy, parameters=parameters or {}, preset=preset,
                               risk=risk or {}, timeframe=timeframe, symbol=symbol,
                               breakers=extra.get("breakers") or {})
    if capital is None or Decimal(capital) <= 0:
        raise ValidationFailed("Capital must be a positive amount.", field="capital")
    try:
        with transaction.atomic():
            bot = Bot.objects.create(
                tenant=tenant, name=name.strip(), account=account, symbol=symbol,
                timeframe=timeframe, strategy=strategy, parameters=cleaned, preset=preset,
                risk=risk or {}, capital=Decimal(capital), created_by=actor.user, **extra)
    except IntegrityError:
        raise Conflict(f"A bot named '{name}' exists already.") from None
    audit_record(tenant=tenant, actor=actor, action="bot.create", target=bot.name,
                 details={"strategy": strategy, "symbol": symbol, "mode": account.mode})
    _publish_status(bot)
    return bot


@transaction.atomic
def bot_update(*, tenant: Tenant, actor: Actor, bot_id: int, **changes: Any) -> Bot:
    """Change a bot's name, parameters, preset, risk or guards."""
    actor.require(Scope.CONTROL)
    bot = _locked_bot(tenant, bot_id)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"These fields cannot be changed: {', '.join(sorted(unknown))}.",
                               field=sorted(unknown)[0])
    for field, value in changes.items():
        setattr(bot, field, value)
    bot.parameters = _validate_config(strategy=bot.strategy, parameters=bot.parameters,
                                      preset=bot.preset, risk=bot.risk,
                                      timeframe=bot.timeframe, symbol=bot.symbol,
                                      breakers=bot.breakers)
    try:
        with transaction.atomic():
            bot.save()
    except IntegrityError:
        raise Conflict(f"A bot named '{bot.name}' exists already.") from None
    audit_record(tenant=tenant, actor=actor, action="bot.update", target=bot.name,
                 details={"fields": sorted(changes)})
    return bot


def _locked_bot(tenant: Tenant, bot_id: int) -> Bot:
    bot = selectors.bot_list(tenant=tenant).select_for_update(of=("self",)).filter(
        pk=bot_id).first()
    return bot if bot is not None else selectors.bot_get(tenant=tenant, bot_id=bot_id)


@transaction.atomic
def bot_pause(*, tenant: Tenant, actor: Actor, bot_id: int, reason: str = "") -> Bot:
    """Pause a bot: it keeps its position and places nothing until resumed."""
    actor.require(Scope.CONTROL)
    bot = _locked_bot(tenant, bot_id)
    if bot.status != Bot.Status.PAUSED:
        _set_paused(bot, reason or f"paused by {actor.label}")
    audit_record(tenant=tenant, actor=actor, action="bot.pause", target=bot.name)
    return bot


@transaction.atomic
def bot_resume(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Resume a paused or stopped bot; circuit-breaker counters start again from zero."""
    actor.require(Scope.CONTROL)
    bot = _locked_bot(tenant, bot_id)
    bot.status = Bot.Status.RUNNING
    bot.paused_reason, bot.paused_at = "", None
    bot.stale_checks = bot.exchange_errors = 0
    bot.next_tick_at = timezone.now()
    bot.save(update_fields=["status", "paused_reason", "paused_at", "stale_checks",
                            "exchange_errors", "next_tick_at", "updated_at"])
    thought_record(bot=bot, kind=Thought.Kind.CONTROL, summary=f"Resumed by {actor.label}.")
    audit_record(tenant=tenant, actor=actor, action="bot.resume", target=bot.name)
    _publish_status(bot)
    return bot


@transaction.atomic
def bot_close_all(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Pause the bot, cancel its open orders and sell its position (at the next price)."""
    from trading.tasks import close_all_task

    actor.require(Scope.CONTROL)
    bot = _locked_bot(tenant, bot_id)
    if bot.status != Bot.Status.PAUSED:
        _set_paused(bot, f"close all by {actor.label}")
    audit_record(tenant=tenant, actor=actor, action="bot.close_all", target=bot.name)
    transaction.on_commit(lambda: close_all_task.delay(bot.tenant_id, bot.pk))
    return bot


def _set_paused(bot: Bot, reason: str, kind: str = Thought.Kind.CONTROL) -> None:
    bot.status = Bot.Status.PAUSED
    bot.paused_reason = reason[:300]
    bot.paused_at = timezone.now()
    bot.save(update_fields=["status", "paused_reason", "paused_at", "updated_at"])
    thought_record(bot=bot, kind=kind, summary=f"Paused: {bot.paused_reason}")
    _publish_status(bot)


@transaction.atomic
def bot_auto_pause(*, bot: Bot, reason: str, data: dict | None = None) -> Bot:
    """A circuit breaker tripped: pause with the reason, think it, alert after commit."""
    bot = _locked_bot(bot.tenant_id, bot.pk)
    if bot.status != Bot.Status.RUNNING:
        return bot
    _set_paused(bot, f"auto-paused: {reason}", kind=Thought.Kind.BREAKER)
    audit_record(tenant=bot.tenant, actor=Actor.system(bot.tenant, via="engine"),
                 action="bot.auto_pause", target=bot.name, details={"reason": reason})
    publish_on_commit(bot.tenant_id, "alert", bot.pk,
                      {"kind": "auto_pause", "reason": reason, **(data or {})})
    transaction.on_commit(lambda: bot_auto_paused.send(
        sender=Bot, tenant_id=bot.tenant_id, bot_id=bot.pk, reason=reason))
    return bot


def _publish_status(bot: Bot) -> None:
    publish_on_commit(bot.tenant_id, "status", bot.pk,
                      {"status": bot.status, "reason": bot.paused_reason,
                       "paused_at": bot.paused_at.isoformat() if bot.paused_at else None})


def bot_claim_tick(*, bot_id: int, now) -> bool:
    """Take the bot's tick lease; False when another tick of it holds the lease.

    A conditional UPDATE is the lock: it works across threads, processes and machines, and a
    crashed tick's lease simply expires.
    """
    from django.db.models import Q

    claimed = Bot.objects.filter(
        Q(tick_lease_until__isnull=True) | Q(tick_lease_until__lt=now),
        pk=bot_id, status__in=[Bot.Status.RUNNING, Bot.Status.PAUSED],
    ).update(tick_lease_until=now + timedelta(seconds=TICK_LEASE_SECONDS))
    return claimed == 1


def bot_defer_ticks(*, bot_ids: list[int], until) -> None:
    """Push queued bots' next tick out so the scheduler does not queue them twice."""
    Bot.objects.filter(pk__in=bot_ids).update(next_tick_at=until)


def bot_finish_tick(*, bot: Bot, next_tick_at, **state: Any) -> None:
    """Release the lease and store the tick's engine state in one UPDATE."""
    Bot.objects.filter(pk=bot.pk).update(tick_lease_until=None, next_tick_at=next_tick_at,
                                         **state)


def bot_count_exchange_error(*, bot: Bot) -> int:
    """Add one to the bot's consecutive exchange errors; returns the new count."""
    Bot.objects.filter(pk=bot.pk).update(exchange_errors=F("exchange_errors") + 1)
    bot.exchange_errors += 1
    return bot.exchange_errors
