"""A bot through its life: duplicate, stop, archive and delete.

Editing lives in `bot_update` (trading.services.bots). A stopped bot places nothing and is
no longer followed by the engine; an archived bot is a stopped, flat bot kept with its trades,
orders and thoughts, out of the default lists and the plan's count; only an archived bot that
never traded may be deleted. Each step is audited and leaves a Thought on the bot.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from aitrader.errors import Conflict
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.plans import plan_require_feature
from tenants.services import audit_record
from trading import selectors
from trading.models import Bot, EquitySnapshot, Fill, Order, Position, Thought, Trade, TradingMode
from trading.services.bots import _publish_status
from trading.services.engine_records import thought_record

COPIED_FIELDS = ("account_id", "symbol", "timeframe", "strategy", "parameters", "preset",
                 "risk", "breakers", "allowed_symbols", "max_order_value", "capital")


@transaction.atomic
def bot_duplicate(*, tenant: Tenant, actor: Actor, bot_id: int, name: str = "") -> Bot:
    """A paused copy of the bot's configuration (no trades, state or position), so the
    customer reviews it before resuming; the plan's limits apply on resume."""
    actor.require(Scope.CONTROL)
    source = selectors.bot_get(tenant=tenant, bot_id=bot_id)
    if source.account.mode == TradingMode.LIVE:
        plan_require_feature(tenant.plan, "live_trading")
    name = (name or _copy_name(tenant, source.name)).strip()[:80]
    try:
        with transaction.atomic():
            copy = Bot.objects.create(
                tenant=tenant, name=name, created_by=actor.user, status=Bot.Status.PAUSED,
                paused_reason=f"copy of {source.name}: review, then resume",
                paused_at=timezone.now(),
                **{field: getattr(source, field) for field in COPIED_FIELDS})
    except IntegrityError:
        raise Conflict(f"A bot named '{name}' exists already.") from None
    thought_record(bot=copy, kind=Thought.Kind.CONTROL,
                   summary=f"Copied from {source.name} by {actor.label}; paused until resumed.")
    audit_record(tenant=tenant, actor=actor, action="bot.duplicate", target=copy.name,
                 details={"from": source.name})
    _publish_status(copy)
    return copy


def _copy_name(tenant: Tenant, name: str) -> str:
    taken = set(Bot.objects.for_tenant(tenant).values_list("name", flat=True))
    for number in range(1, 1000):
        candidate = f"{name[:70]} copy" + (f" {number}" if number > 1 else "")
        if candidate not in taken:
            return candidate
    raise Conflict("Choose a name for the copy.")


@transaction.atomic
def bot_stop(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Stop a flat bot for good (resume starts it again). A bot holding a position or an
    order is refused: close it first, or pause it to keep the position watched."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    if bot.status == Bot.Status.STOPPED:
        return bot
    problem = selectors.bot_flat_problem(bot=bot)
    if problem:
        raise Conflict(f"{bot.name} cannot stop while {problem}: close all first, or pause it.")
    bot.status = Bot.Status.STOPPED
    bot.paused_reason, bot.paused_at = f"stopped by {actor.label}", timezone.now()
    bot.save(update_fields=["status", "paused_reason", "paused_at", "updated_at"])
    thought_record(bot=bot, kind=Thought.Kind.CONTROL, summary=f"Stopped by {actor.label}.")
    audit_record(tenant=tenant, actor=actor, action="bot.stop", target=bot.name)
    _publish_status(bot)
    return bot


@transaction.atomic
def bot_archive(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Stop (when flat) and archive the bot: kept with its history, out of the lists."""
    bot = bot_stop(tenant=tenant, actor=actor, bot_id=bot_id)
    if bot.archived_at is None:
        bot.archived_at = timezone.now()
        bot.save(update_fields=["archived_at", "updated_at"])
        thought_record(bot=bot, kind=Thought.Kind.CONTROL, summary=f"Archived by {actor.label}.")
        audit_record(tenant=tenant, actor=actor, action="bot.archive", target=bot.name)
    return bot


@transaction.atomic
def bot_unarchive(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Bring an archived bot back to the lists, stopped (resume starts it)."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    if bot.archived_at is not None:
        bot.archived_at = None
        bot.save(update_fields=["archived_at", "updated_at"])
        audit_record(tenant=tenant, actor=actor, action="bot.unarchive", target=bot.name)
    return bot


@transaction.atomic
def bot_delete(*, tenant: Tenant, actor: Actor, bot_id: int) -> None:
    """Delete an archived bot that never traded (no order, fill or trade); anything with a
    history is kept, archived, because the ledger and the audit trail refer to it."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    if bot.archived_at is None:
        raise Conflict(f"Archive {bot.name} before deleting it.")
    for model in (Order, Fill, Trade):
        if model.objects.for_tenant(tenant).filter(bot=bot).exists():
            raise Conflict(f"{bot.name} has traded: it stays archived with its history.")
    for model in (Thought, Position, EquitySnapshot):
        model.objects.for_tenant(tenant).filter(bot=bot).delete()
    audit_record(tenant=tenant, actor=actor, action="bot.delete", target=bot.name)
    bot.delete()
