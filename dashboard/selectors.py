"""Reads behind the dashboard pages, composed from the trading selectors (always scoped).

The overview needs each bot's latest equity, position and trade count; subqueries fetch them
with the bots in one query, however many bots a tenant runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, OuterRef, QuerySet, Subquery

from tenants import selectors as tenant_selectors
from tenants.models import Tenant
from tenants.plans import PlanLimits, plan_limits
from trading import selectors
from trading.core.pnl import bot_pnl
from trading.models import Bot, Trade


def bot_overview_list(*, tenant: Tenant) -> QuerySet[Bot]:
    """The tenant's current bots, the pair bots of multi-pair bots included, annotated with
    `equity`, `position_value`, `position_amount`, `position_price` and `trade_count`
    (None/0 before a bot's first tick or fill)."""
    latest = (selectors.equity_list(tenant=tenant).filter(bot=OuterRef("pk"))
              .order_by("-candle_ts"))
    position = (selectors.position_list(tenant=tenant)
                .filter(bot=OuterRef("pk"), symbol=OuterRef("symbol")).order_by())
    trades = (selectors.trade_list(tenant=tenant).filter(bot=OuterRef("pk")).order_by()
              .values("bot").annotate(count=Count("id")).values("count"))
    return selectors.bot_list(tenant=tenant).filter(archived_at__isnull=True).annotate(
        equity=Subquery(latest.values("equity")[:1]),
        position_value=Subquery(latest.values("position_value")[:1]),
        position_amount=Subquery(position.values("amount")[:1]),
        position_price=Subquery(position.values("average_price")[:1]),
        trade_count=Subquery(trades[:1]),
    )


def bot_overview_rows(*, tenant: Tenant) -> list[Bot]:
    """`bot_overview_list` as a list, each bot with `pnl` (equity - capital; None before its
    first closed candle) and `account_balances` (what its account holds at the exchange)."""
    rows = list(bot_overview_list(tenant=tenant))
    pairs: dict[int, list[Bot]] = {}
    for row in rows:
        if row.lead_id is not None:
            pairs.setdefault(row.lead_id, []).append(row)
    bots = [row for row in rows if row.lead_id is None]
    for bot in bots:
        if bot.pk in pairs:
            _sum_pairs(bot, pairs[bot.pk])
        bot.pnl = bot_pnl(capital=bot.capital, equity=bot.equity)
        bot.account_balances = selectors.account_balances(account=bot.account)
    return bots


def _sum_pairs(bot: Bot, pair_bots: list[Bot]) -> None:
    """A multi-pair bot's row: the sums over its pairs (capital, equity, trades), how many
    pairs hold a position (`open_pairs` of `pair_count`), and each pair's equity for the
    live updates (`member_equity`)."""
    members = [bot, *pair_bots]
    bot.member_ids = " ".join(str(member.pk) for member in members)
    bot.member_equity = ",".join(
        f"{member.pk}:{member.equity if member.equity is not None else member.capital}"
        for member in members)
    if any(member.equity is not None for member in members):
        bot.equity = sum((member.equity if member.equity is not None else member.capital
                          for member in members), Decimal(0))
    bot.capital = sum((member.capital for member in members), Decimal(0))
    bot.trade_count = sum(member.trade_count or 0 for member in members)
    bot.pair_count = len(members)
    bot.open_pairs = sum(bool(member.position_amount) for member in members)
    bot.position_amount = bot.open_pairs


@dataclass(frozen=True)
class PortfolioSummary:
    """Totals of the overview's headline cards."""

    bots: int
    running: int
    capital: Decimal
    equity: Decimal
    open_positions: int

    @property
    def pnl(self) -> Decimal:
        return bot_pnl(capital=self.capital, equity=self.equity)


def portfolio_summary(bots: list[Bot]) -> PortfolioSummary:
    """Totals over annotated bots; a bot that has not ticked yet counts at its capital."""
    equity = sum(((b.equity if b.equity is not None else b.capital) for b in bots), Decimal(0))
    return PortfolioSummary(
        bots=len(bots), running=sum(b.status == Bot.Status.RUNNING for b in bots),
        capital=sum((b.capital for b in bots), Decimal(0)), equity=equity,
        open_positions=sum(getattr(b, "open_pairs", bool(b.position_amount)) for b in bots))


def bot_recent_activity(*, bot: Bot, rows: int = 20) -> dict[str, list]:
    """The bot's latest orders, trades and thoughts for its page (the live feed adds more)."""
    tenant = bot.tenant_id
    return {
        "orders": list(selectors.order_list(tenant=tenant).filter(bot=bot)[:rows]),
        "trades": list(selectors.trade_list(tenant=tenant).filter(bot=bot)[:rows]),
        "thoughts": list(selectors.thought_list(tenant=tenant).filter(bot=bot)[:rows * 2]),
        "closed_trades": selectors.trade_list(tenant=tenant).filter(
            bot=bot, status=Trade.Status.CLOSED).count(),
    }


@dataclass(frozen=True)
class PlanUsage:
    """The tenant's plan, its limits and how much of them is used."""

    plan: str
    label: str
    limits: PlanLimits
    bots: int
    members: int


def plan_usage(*, tenant: Tenant) -> PlanUsage:
    """The plan table's row for `tenant` with its current counts."""
    return PlanUsage(plan=tenant.plan, label=tenant.get_plan_display(),
                     limits=plan_limits(tenant.plan),
                     bots=selectors.bot_running_count(tenant=tenant),
                     members=tenant_selectors.membership_list(tenant=tenant).count())
