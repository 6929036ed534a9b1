"""Trading by hand: enter now, exit now (all or part), cancel a working order.

A request is recorded here (audited, with a Thought) and carried out by the bot's next tick
(`trading.engine.manual`), through the same path as the bot's own orders: the order intent is
committed before it is sent, under a client order id made from the request, so a retried or
crashed tick never sends it twice; an entry passes the same risk checks (stake, open
positions, daily loss limit, cooldown) as a signal would. The tick is brought forward, so it
happens within seconds.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from aitrader.errors import Conflict, ValidationFailed
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.services import audit_record
from trading import selectors
from trading.core import money
from trading.models import Bot, ManualOrder, Order, Thought
from trading.services.engine_records import thought_record

WORDS = {ManualOrder.Action.ENTER: "enter now", ManualOrder.Action.EXIT: "exit now",
         ManualOrder.Action.CANCEL: "cancel an order"}


@transaction.atomic
def manual_order_request(*, tenant: Tenant, actor: Actor, bot_id: int, action: str,
                         fraction: Decimal | str | None = None,
                         order_id: int | None = None) -> ManualOrder:
    """Ask the bot's next tick to enter, exit (`fraction` of the position, default all) or
    cancel its working order `order_id`. Refused (Conflict) while another request or a close
    all is pending, or when there is nothing to exit or cancel."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    if action not in ManualOrder.Action.values:
        raise ValidationFailed(f"action must be one of {', '.join(ManualOrder.Action.values)}.",
                               field="action")
    _check_free(bot)
    share = money.EXIT_FRACTION.check(fraction if fraction is not None else Decimal(1),
                                      field="fraction")
    target = _check_action(bot, action, order_id)
    request = ManualOrder.objects.create(tenant=tenant, bot=bot, action=action, fraction=share,
                                         order=target, requested_by=actor.label)
    Bot.objects.for_tenant(tenant).filter(pk=bot.pk).update(next_tick_at=timezone.now())
    what = WORDS[action] + (f" ({share * 100:g} %)" if action == "exit" and share < 1 else "")
    thought_record(bot=bot, kind=Thought.Kind.CONTROL,
                   summary=f"{actor.label} asked to {what}; the next tick carries it out.")
    audit_record(tenant=tenant, actor=actor, action=f"bot.manual_{action}", target=bot.name,
                 details={"fraction": str(share), "order": order_id})
    return request


def _check_free(bot: Bot) -> None:
    if bot.close_requested_at is not None:
        raise Conflict(f"{bot.name} is closing all; wait until that is done.")
    if ManualOrder.objects.for_tenant(bot.tenant_id).filter(
            bot=bot, status=ManualOrder.Status.PENDING).exists():
        raise Conflict(f"{bot.name} has a manual order waiting for its next tick.")


def _check_action(bot: Bot, action: str, order_id: int | None) -> Order | None:
    """The order a cancel targets; refusals for what cannot be done now."""
    if action == ManualOrder.Action.ENTER and bot.status != Bot.Status.RUNNING:
        raise Conflict(f"{bot.name} is {bot.status}: resume it to enter.")
    if action == ManualOrder.Action.EXIT:
        position = selectors.position_for_bot(bot=bot)
        if position is None or position.amount <= 0:
            raise Conflict(f"{bot.name} holds nothing to exit.")
    if action != ManualOrder.Action.CANCEL:
        return None
    order = selectors.order_pending_for_bot(bot=bot).filter(pk=order_id).first() \
        if order_id else None
    if order is None:
        raise Conflict(f"{bot.name} has no working order {order_id or ''} to cancel.".replace(
            "  ", " "))
    return order


def manual_order_pending(*, bot: Bot) -> ManualOrder | None:
    """The bot's oldest request waiting for a tick."""
    return (ManualOrder.objects.for_tenant(bot.tenant_id)
            .filter(bot=bot, status=ManualOrder.Status.PENDING).order_by("created_at", "pk")
            .first())


def manual_order_finish(*, request: ManualOrder, done: bool, note: str,
                        order: Order | None = None) -> ManualOrder:
    """Record how the tick carried the request out (or why it refused), once."""
    updates = {"status": ManualOrder.Status.DONE if done else ManualOrder.Status.REFUSED,
               "note": note[:300], "done_at": timezone.now()}
    if order is not None:
        updates["order"] = order
    ManualOrder.objects.for_tenant(request.tenant_id).filter(
        pk=request.pk, status=ManualOrder.Status.PENDING).update(**updates)
    for field, value in updates.items():
        setattr(request, field, value)
    return request
