"""Bots follow the plan: when a workspace's plan changes, pause what it no longer allows.

Connected to `tenants.signals.plan_changed`, which is sent inside the plan change's
transaction: the plan and the bots change together. Pausing is the only action taken, never
closing a position: what to do with an open position is the customer's call.
"""
from __future__ import annotations

from tenants.models import Tenant
from tenants.plans import Plan, plan_limits
from trading import selectors
from trading.models import Bot, TradingMode
from trading.services.bots import bot_auto_pause


def bots_fit_plan(*, tenant: Tenant, reason: str) -> list[int]:
    """Pause running live bots when the plan has no live trading, then running bots past the
    plan's bot limit, newest first. Returns the ids paused, with the reason on each."""
    limits = plan_limits(tenant.plan)
    label = Plan(tenant.plan).label
    running = list(Bot.objects.for_tenant(tenant).filter(status=Bot.Status.RUNNING)
                   .select_related("account", "tenant").order_by("created_at", "pk"))
    paused: list[int] = []
    if not limits.live_trading:
        for bot in [b for b in running if b.account.mode == TradingMode.LIVE]:
            bot_auto_pause(bot=bot, reason=f"the {label} plan has no live trading ({reason})")
            paused.append(bot.pk)
    # The limit counts bots as lists show them: a multi-pair bot once, paused with its pairs.
    still_running = [b for b in running if b.pk not in paused and b.lead_id is None]
    if limits.max_bots is not None and len(still_running) > limits.max_bots:
        why = (f"over the {label} plan's limit of {limits.max_bots} running "
               f"bot{'' if limits.max_bots == 1 else 's'} ({reason})")
        for bot in still_running[limits.max_bots:][::-1]:
            for member in [bot, *selectors.pair_bots(bot=bot)]:
                bot_auto_pause(bot=member, reason=why)
                paused.append(member.pk)
    return paused


def on_plan_changed(sender, *, tenant: Tenant, reason: str, **kwargs) -> None:
    """`plan_changed` receiver: fit the tenant's bots to its new plan."""
    bots_fit_plan(tenant=tenant, reason=reason)
