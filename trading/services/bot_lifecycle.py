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
from trading.models import Bot, Fill, Order, Thought, Trade, TradingMode
from trading.services import bot_pairs
from trading.services.bots import _publish_status
from trading.services.engine_records import thought_record

COPIED_FIELDS = ("account_id", "symbol", "timeframe", "strategy", "parameters", "preset",
                 "risk", "breakers", "allowed_symbols", "max_order_value", "capital")


@transaction.atomic
def bot_duplicate(*, tenant: Tenant, actor: Actor, bot_id: int, name: str = "") -> Bot:
    """A paused copy of the bot's configuration and pairs (no trades, state or position), so
    the customer reviews it before resuming; the plan's limits apply on resume."""
    actor.require(Scope.CONTROL)
    source = selectors.bot_get(tenant=tenant, bot_id=bot_id)
    bot_pairs.refuse_pair_bot(source)
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
    bot_pairs.pair_bots_add(lead=copy, pairs=selectors.bot_pairs(bot=source))
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
    """Stop a flat bot for good (resume starts it again), with every pair of a multi-pair
    bot. A bot holding a position or an order on any pair is refused: close it first, or
    pause it to keep the position watched."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    bot_pairs.refuse_pair_bot(bot)
    members = [bot, *selectors.pair_bots(bot=bot)]
    if all(member.status == Bot.Status.STOPPED for member in members):
        return bot
    for member in members:
        problem = selectors.bot_flat_problem(bot=member)
        if problem:
            where = f" on {member.symbol}" if len(members) > 1 else ""
            raise Conflict(f"{bot.name} cannot stop while {problem}{where}: close all first, "
                           f"or pause it.")
    for member in members:
        _stop_one(member, actor)
    audit_record(tenant=tenant, actor=actor, action="bot.stop", target=bot.name)
    return bot


def _stop_one(bot: Bot, actor: Actor) -> None:
    bot.status = Bot.Status.STOPPED
    bot.paused_reason, bot.paused_at = f"stopped by {actor.label}", timezone.now()
    bot.save(update_fields=["status", "paused_reason", "paused_at", "updated_at"])
    thought_record(bot=bot, kind=Thought.Kind.CONTROL, summary=f"Stopped by {actor.label}.")
    _publish_status(bot)


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
    bot_pairs.refuse_pair_bot(bot)
    if bot.archived_at is not None:
        bot.archived_at = None
        bot.save(update_fields=["archived_at", "updated_at"])
        audit_record(tenant=tenant, actor=actor, action="bot.unarchive", target=bot.name)
    return bot


@transaction.atomic
def bot_delete(*, tenant: Tenant, actor: Actor, bot_id: int) -> None:
    """Delete an archived bot that never traded (no order, fill or trade on any of its
    pairs); anything with a history is kept, archived, because the ledger and the audit trail
    refer to it."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    bot_pairs.refuse_pair_bot(bot)
    if bot.archived_at is None:
        raise Conflict(f"Archive {bot.name} before deleting it.")
    members = [bot, *selectors.pair_bots(bot=bot, archived=True)]
    for model in (Order, Fill, Trade):
        if model.objects.for_tenant(tenant).filter(bot__in=members).exists():
            raise Conflict(f"{bot.name} has traded: it stays archived with its history.")
    audit_record(tenant=tenant, actor=actor, action="bot.delete", target=bot.name)
    for member in reversed(members):  # pair bots first: they refer to the lead
        bot_pairs.pair_bot_delete(pair=member)
