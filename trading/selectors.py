"""Reads of the trading app; every function takes the tenant and returns scoped querysets."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, NullIf

from aitrader.errors import NotFound
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.plans import plan_require_feature
from trading.core import money
from trading.core.backtest.compare import compare_runs
from trading.core.pnl_periods import (
    PairPnl,
    PeriodPnl,
    check_period,
    earliest_start,
    pnl_by_pair,
    pnl_by_period,
)
from trading.models import (
    BacktestRun,
    BacktestSweep,
    Bot,
    EquitySnapshot,
    ExchangeAccount,
    Fill,
    ManualOrder,
    MarketFeed,
    Order,
    PaperBalance,
    Position,
    SignalAlert,
    SignalHook,
    Thought,
    Trade,
    TradingMode,
)


def bot_list(*, tenant: Tenant | int) -> QuerySet[Bot]:
    """The tenant's bots with their accounts."""
    return Bot.objects.for_tenant(tenant).select_related("account").order_by("name")


def bot_list_shown(*, tenant: Tenant | int) -> QuerySet[Bot]:
    """The tenant's bots as lists show them: a multi-pair bot once, by its lead (the bots of
    its further pairs are reached through it, see `pair_bots`)."""
    return bot_list(tenant=tenant).filter(lead__isnull=True)


def bot_list_with_pairs(*, bots: QuerySet[Bot], tenant: Tenant | int) -> QuerySet[Bot]:
    """`bots` with their pair bots fetched alongside (one more query for the whole list), in
    pair order, for lists that show every bot's pairs."""
    return bots.prefetch_related(Prefetch("pair_bots", queryset=Bot.objects.for_tenant(
        tenant).order_by("pk")))


def bot_list_current(*, tenant: Tenant | int) -> QuerySet[Bot]:
    """The tenant's bots the lists show by default: all but the archived."""
    return bot_list_shown(tenant=tenant).filter(archived_at__isnull=True)


def bot_running_count(*, tenant: Tenant | int) -> int:
    """What the plan's bot limit counts: running bots (paused, stopped and archived don't);
    a multi-pair bot counts once."""
    return Bot.objects.for_tenant(tenant).filter(status=Bot.Status.RUNNING,
                                                 lead__isnull=True).count()


def pair_bots(*, bot: Bot, archived: bool = False) -> list[Bot]:
    """The bots trading the further pairs of `bot` (none for a one-pair bot or a pair bot),
    in the order of its pairs; with `archived`, also those of pairs it no longer trades."""
    if bot.lead_id is not None:
        return []
    rows = bot_list(tenant=bot.tenant_id).filter(lead=bot)
    if not archived:
        rows = rows.filter(archived_at__isnull=True)
    return list(rows.order_by("pk"))


def bot_pairs(*, bot: Bot) -> list[str]:
    """Every pair a bot trades: its own symbol first, then its pair bots' symbols."""
    return [bot.symbol, *(pair.symbol for pair in pair_bots(bot=bot))]


def bot_pair_rows(*, bot: Bot) -> list[tuple[Bot, Position | None]]:
    """Each pair of a multi-pair bot (its pair bot, its position) for the bot's page; empty
    for a bot of one pair."""
    members = [bot, *pair_bots(bot=bot)]
    if len(members) == 1:
        return []
    positions = {position.bot_id: position for position in Position.objects.for_tenant(
        bot.tenant_id).filter(bot__in=members)}
    return [(member, positions.get(member.pk)) for member in members]


def pair_slots_taken(*, bot: Bot) -> int:
    """How many of the other pairs of `bot`'s multi-pair bot hold a position or have an
    entry working (what its max-open-positions limit counts besides `bot` itself)."""
    lead_id = bot.lead_id or bot.pk
    members = Q(bot_id=lead_id) | Q(bot__lead_id=lead_id)
    holding = set(Position.objects.for_tenant(bot.tenant_id).filter(
        members, amount__gt=0, entries__gt=0).exclude(bot=bot).values_list("bot_id", flat=True))
    entering = set(Order.objects.for_tenant(bot.tenant_id).filter(
        members, side="buy", status__in=PENDING_ORDER_STATUSES).exclude(bot=bot)
        .values_list("bot_id", flat=True))
    return len(holding | entering)


def bot_flat_problem(*, bot: Bot) -> str | None:
    """Why the bot is not flat (an open position or a working order), or None when it is."""
    position = position_for_bot(bot=bot)
    if position is not None and position.amount > 0:
        return f"it holds {position.amount.normalize():f} {bot.base_currency}"
    working = Order.objects.for_tenant(bot.tenant_id).filter(
        bot=bot, status__in=PENDING_ORDER_STATUSES).count()
    if working:
        return f"it has {working} working order{'s' if working != 1 else ''}"
    return None


def bot_get(*, tenant: Tenant | int, bot_id: int) -> Bot:
    """One bot of the tenant; NotFound for a missing or foreign id."""
    bot = bot_list(tenant=tenant).filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("No such bot.")
    return bot


def bot_get_by_name(*, tenant: Tenant | int, name: str) -> Bot:
    """A bot by exact name (Telegram and CLI refer to bots by name)."""
    bot = bot_list(tenant=tenant).filter(name__iexact=name).first()
    if bot is None:
        raise NotFound(f"No bot named '{name}'.")
    return bot


def exchange_account_list(*, tenant: Tenant | int) -> QuerySet[ExchangeAccount]:
    """The tenant's exchange accounts."""
    return ExchangeAccount.objects.for_tenant(tenant).order_by("label")


def exchange_account_get(*, tenant: Tenant | int, account_id: int) -> ExchangeAccount:
    """One exchange account of the tenant; NotFound otherwise."""
    account = exchange_account_list(tenant=tenant).filter(pk=account_id).first()
    if account is None:
        raise NotFound("No such exchange account.")
    return account


def order_list(*, tenant: Tenant | int) -> QuerySet[Order]:
    """The tenant's orders, newest first."""
    return Order.objects.for_tenant(tenant).order_by("-created_at", "-id")


def order_pending_for_bot(*, bot: Bot) -> QuerySet[Order]:
    """Orders of `bot` not yet final: intents, lost answers and open orders."""
    return order_list(tenant=bot.tenant_id).filter(
        bot=bot, status__in=PENDING_ORDER_STATUSES).order_by("created_at", "id")


def order_stops_for_bot(*, bot: Bot) -> QuerySet[Order]:
    """The bot's protective stops (see `Order.PROTECTIVE_TYPES`), oldest first."""
    return order_list(tenant=bot.tenant_id).filter(
        bot=bot, type__in=Order.PROTECTIVE_TYPES).order_by("created_at", "id")


def order_resting_stops_for_bot(*, bot: Bot) -> QuerySet[Order]:
    """The bot's stops not yet final (resting at the exchange, or about to), oldest first."""
    return order_stops_for_bot(bot=bot).filter(status__in=PENDING_ORDER_STATUSES)


def order_last_stop_for_bot(*, bot: Bot) -> Order | None:
    """The bot's newest protective stop, whatever became of it."""
    return order_stops_for_bot(bot=bot).last()


def order_stops_in_series(*, bot: Bot, series: str) -> list[Order]:
    """The bot's stops whose client ids start with `series` (those placed for one entry,
    see `trading.services.orders.stop_series`), in the order placed."""
    return list(order_stops_for_bot(bot=bot).filter(client_order_id__startswith=series))


def order_last_entry_candle(*, bot: Bot) -> int | None:
    """The decision candle of the bot's newest buy that filled (the entry its stop protects)."""
    return order_list(tenant=bot.tenant_id).filter(
        bot=bot, side="buy", filled__gt=0).order_by("-candle_ts").values_list(
        "candle_ts", flat=True).first()


def order_unanswered_for_bot(*, bot: Bot) -> QuerySet[Order]:
    """Orders of `bot` the exchange has not answered for: intents and lost answers."""
    return order_list(tenant=bot.tenant_id).filter(
        bot=bot, status__in=(Order.Status.INTENT, Order.Status.UNKNOWN)).order_by("created_at",
                                                                                   "id")


def fill_last_of_stops_ms(*, bot: Bot) -> int | None:
    """When the bot's newest fill of a protective stop happened (epoch ms), if any."""
    return Fill.objects.for_tenant(bot.tenant_id).filter(
        bot=bot, order__type__in=Order.PROTECTIVE_TYPES).order_by("-timestamp_ms").values_list(
        "timestamp_ms", flat=True).first()


def order_get_by_client_id(*, tenant: Tenant | int, client_order_id: str) -> Order | None:
    """The order with this client order id in the tenant, if any."""
    return Order.objects.for_tenant(tenant).filter(client_order_id=client_order_id).first()


def fill_list(*, tenant: Tenant | int) -> QuerySet[Fill]:
    """The tenant's fills, newest first."""
    return Fill.objects.for_tenant(tenant).order_by("-timestamp_ms", "-id")


def fill_trade_ids(*, tenant: Tenant | int, account_id: int, trade_ids: list[str]) -> set[str]:
    """Which of `trade_ids` are already recorded for the account."""
    return set(Fill.objects.for_tenant(tenant).filter(
        account_id=account_id, trade_id__in=trade_ids).values_list("trade_id", flat=True))


def trade_list(*, tenant: Tenant | int) -> QuerySet[Trade]:
    """The tenant's trades (round trips), newest first."""
    return Trade.objects.for_tenant(tenant).select_related("bot").order_by("-entry_time", "-id")


def trade_closed_since(*, tenant: Tenant | int, since: datetime,
                       bot: Bot | None = None) -> list[Trade]:
    """Closed trades of the tenant (or one bot, with all its pairs) that exited at or after
    `since`."""
    trades = Trade.objects.for_tenant(tenant).filter(status=Trade.Status.CLOSED,
                                                     exit_time__gte=since,
                                                     pnl__isnull=False)
    if bot is not None:
        trades = trades.filter(Q(bot=bot) | Q(bot__lead=bot))
    return list(trades.only("symbol", "exit_time", "pnl"))


def pnl_table(*, tenant: Tenant | int, period: str, count: int, today: date,
              bot: Bot | None = None) -> list[PeriodPnl]:
    """P&L of closed trades per day, week or month: the last `count` periods up to `today`,
    newest first, for one bot or the whole tenant (exact Decimal sums)."""
    check_period(period, count)
    trades = trade_closed_since(tenant=tenant, bot=bot,
                                since=earliest_start(period, count, today))
    return pnl_by_period(trades, period=period, count=count, today=today)


def bot_market_today(*, bot: Bot) -> date:
    """The bot's 'today' on its market's clock: the day of its newest candle (a replayed
    market runs on its own dates), or the wall clock's day before its first candle."""
    if bot.last_candle_ts:
        return datetime.fromtimestamp(bot.last_candle_ts / 1000, tz=UTC).date()
    return datetime.now(tz=UTC).date()


def pnl_pairs(*, bot: Bot) -> list[PairPnl]:
    """A bot's closed-trade P&L per pair, best first."""
    since = datetime(1970, 1, 1, tzinfo=UTC)
    return pnl_by_pair(trade_closed_since(tenant=bot.tenant_id, bot=bot, since=since))


def trade_list_for_export(*, actor: Actor) -> QuerySet[Trade]:
    """The trades `actor` may download as CSV, oldest first.

    Exporting needs the `export` or the `read` scope (a member: any role) and a plan with
    exports, whoever asks: a key's scopes never lift the plan's limits."""
    if not (actor.can(Scope.EXPORT) or actor.can(Scope.READ)):
        actor.require(Scope.EXPORT)
    plan_require_feature(actor.tenant.plan, "exports")
    return trade_list(tenant=actor.tenant).order_by("id")


def trade_open_for_bot(*, bot: Bot) -> Trade | None:
    """The bot's open round trip, if any."""
    return Trade.objects.for_tenant(bot.tenant_id).filter(
        bot=bot, status=Trade.Status.OPEN).order_by("id").first()


def position_list(*, tenant: Tenant | int) -> QuerySet[Position]:
    """The tenant's positions."""
    return Position.objects.for_tenant(tenant).select_related("bot").order_by("bot__name")


def position_for_bot(*, bot: Bot) -> Position | None:
    """The bot's position in its symbol (None before its first fill)."""
    return Position.objects.for_tenant(bot.tenant_id).filter(bot=bot, symbol=bot.symbol).first()


def bot_realized_pnl(*, bot: Bot) -> Decimal:
    """The bot's realized P&L as stored now (fills recorded during a tick change it)."""
    return Bot.objects.for_tenant(bot.tenant_id).values_list("realized_pnl", flat=True).get(
        pk=bot.pk)


def thought_list(*, tenant: Tenant | int) -> QuerySet[Thought]:
    """The tenant's bot thoughts, newest first."""
    return Thought.objects.for_tenant(tenant).order_by("-created_at", "-id")


def equity_list(*, tenant: Tenant | int) -> QuerySet[EquitySnapshot]:
    """The tenant's equity snapshots in time order."""
    return EquitySnapshot.objects.for_tenant(tenant).order_by("candle_ts", "id")


def equity_latest_for_bot(*, bot: Bot) -> EquitySnapshot | None:
    """The bot's most recent equity snapshot."""
    return equity_list(tenant=bot.tenant_id).filter(bot=bot).order_by("-candle_ts").first()


def paper_balances(*, account: ExchangeAccount) -> dict[str, PaperBalance]:
    """A paper account's balances by currency."""
    rows = PaperBalance.objects.for_tenant(account.tenant_id).filter(account=account)
    return {row.currency: row for row in rows}


def backtest_run_list(*, tenant: Tenant | int) -> QuerySet[BacktestRun]:
    """The tenant's backtest runs, newest first."""
    return BacktestRun.objects.for_tenant(tenant).order_by("-created_at", "-id")


def backtest_run_get(*, tenant: Tenant | int, run_id: int) -> BacktestRun:
    """One backtest run of the tenant; NotFound otherwise."""
    run = backtest_run_list(tenant=tenant).filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such backtest run.")
    return run


# The report figures the runs list shows and sorts by (page ?sort=, API ?ordering=): each
# name is its key in report["metrics"], with the column type it is read as.
BACKTEST_RUN_FIGURES = {"return_pct": FloatField, "max_drawdown_pct": FloatField,
                        "trades": IntegerField, "sharpe": FloatField}
BACKTEST_RUN_ORDERINGS = ("created_at", *BACKTEST_RUN_FIGURES)


def backtest_run_summaries(*, tenant: Tenant | int,
                           ordering: str | None = None) -> QuerySet[BacktestRun]:
    """The tenant's runs without their reports, each with return_pct, max_drawdown_pct,
    trades and sharpe read from its stored report's metrics in the database (None without a
    report or the figure), ordered by `ordering`: a name of BACKTEST_RUN_ORDERINGS, "-" first
    for descending, runs lacking the figure last; anything else is newest first."""
    # NULLIF: SQLite's text of a JSON null is "null" (PostgreSQL's is NULL), cast it would be 0.
    figures = {name: Cast(NullIf(KT(f"report__metrics__{name}"), Value("null")), column())
               for name, column in BACKTEST_RUN_FIGURES.items()}
    runs = backtest_run_list(tenant=tenant).defer("report").annotate(**figures)
    return runs.order_by(*backtest_run_ordering(ordering))


def backtest_run_ordering(ordering: str | None) -> list:
    """The order_by terms of a whitelisted ordering, one name or several separated by
    commas (see backtest_run_summaries); newest first when any name is not whitelisted."""
    terms = [term.strip() for term in (ordering or "").split(",") if term.strip()]
    if not terms or any(term.removeprefix("-") not in BACKTEST_RUN_ORDERINGS for term in terms):
        return ["-created_at", "-id"]
    order = [F(term[1:]).desc(nulls_last=True) if term.startswith("-")
             else F(term).asc(nulls_last=True) for term in terms]
    return [*order, "-id" if terms[0].startswith("-") else "id"]


def backtest_runs_pick(*, tenant: Tenant | int, run_ids: list[int]) -> list[BacktestRun]:
    """The tenant's runs with these ids, reports included, in the order given; NotFound when
    any is missing, another tenant's among them (the comparison shows all or nothing)."""
    runs = {run.pk: run for run in backtest_run_list(tenant=tenant).filter(pk__in=run_ids)}
    if len(runs) != len(set(run_ids)):
        raise NotFound("No such backtest run.")
    return [runs[run_id] for run_id in run_ids]


def backtest_runs_compare(*, tenant: Tenant | int, run_ids: list[int]) -> dict:
    """The tenant's runs `run_ids` side by side (trading.core.backtest.compare): settings and
    metrics in rows, the best of each marked, equity curves as returns; NotFound when any
    run is missing or another tenant's."""
    runs = backtest_runs_pick(tenant=tenant, run_ids=run_ids)
    return compare_runs([{"id": run.pk, "strategy": run.strategy, "parameters": run.parameters,
                          "symbol": run.symbol, "timeframe": run.timeframe,
                          "status": run.status, "config": run.config, "report": run.report}
                         for run in runs])


def jobs_unfinished(model: type[BacktestRun] | type[BacktestSweep]) -> list[tuple[int, int]]:
    """(tenant id, id) of `model`'s jobs (backtest runs or sweeps) queued or running, across
    all tenants, oldest first: what an embedded server's job pool had not finished when it
    stopped."""
    return list(model.objects.all_tenants(reason="resume after a server restart")
                .filter(status__in=(model.Status.QUEUED, model.Status.RUNNING))
                .order_by("created_at", "id").values_list("tenant_id", "id"))


def sweep_list(*, tenant: Tenant | int) -> QuerySet[BacktestSweep]:
    """The tenant's parameter sweeps, newest first."""
    return BacktestSweep.objects.for_tenant(tenant).order_by("-created_at", "-id")


def sweep_get(*, tenant: Tenant | int, sweep_id: int) -> BacktestSweep:
    """One parameter sweep of the tenant; NotFound otherwise (another tenant's too)."""
    sweep = sweep_list(tenant=tenant).filter(pk=sweep_id).first()
    if sweep is None:
        raise NotFound("No such sweep.")
    return sweep


def bots_due(*, now, limit: int = 1000) -> list[tuple[int, int]]:
    """(tenant id, bot id) of bots whose next tick is due, across all tenants.

    Paused bots come up only while they have orders to follow (their ticks place nothing).

    A bot due within half a tick interval counts as due now, unless a tick holds its lease.
    The scheduler itself runs once
    an interval, and a tick sets the next one an interval after it *ran* (a little after the
    scheduler's pass, by the queue's latency); compared exactly, every other pass found the
    bot a few milliseconds early and it ticked every two intervals. A tick a moment early
    only looks again at the feed, which decides whether a candle is new.

    The scheduler is the one platform-level reader: it only yields ids, and each tick
    re-reads its bot through the tenant-scoped selectors above.
    """
    soon = now + timedelta(seconds=settings.AITRADER_ENGINE_TICK_SECONDS / 2)
    due = Bot.objects.all_tenants(reason="the scheduler ticks every tenant's due bots")
    free = Q(tick_lease_until__isnull=True) | Q(tick_lease_until__lt=now)
    return list(due.filter(free, status__in=Bot.ACTIVE_STATUSES, next_tick_at__lte=soon)
                .order_by("next_tick_at").values_list("tenant_id", "id")[:limit])


def market_feed_list() -> QuerySet[MarketFeed]:
    """Freshness of every shared feed (platform-level, not tenant data)."""
    return MarketFeed.objects.order_by("exchange_id", "symbol", "timeframe")


def market_feed_last_success(*, exchange_id: str, symbol: str, timeframe: str):
    """When the feed was last fetched successfully (None if never)."""
    return market_feed_list().filter(exchange_id=exchange_id, symbol=symbol,
                                     timeframe=timeframe).values_list(
        "last_fetch_at", flat=True).first()


def equity_at_day_start(*, bot: Bot, candle_ts: int) -> float:
    """The bot's equity at the last candle before the UTC day of `candle_ts` began; on the
    bot's first day (nothing recorded before it) its capital, the equity it started with, as
    the backtester opens its first day at the starting cash."""
    day_start = candle_ts - candle_ts % 86_400_000
    value = equity_list(tenant=bot.tenant_id).filter(
        bot=bot, candle_ts__lt=day_start).order_by("-candle_ts").values_list(
        "equity", flat=True).first()
    return float(value if value is not None else bot.capital)


def open_position_count_on_account(*, bot: Bot) -> int:
    """How many other bots on the same account hold a position now (dust an exit left
    below the lot size, with no round trip open, is not one)."""
    return Position.objects.for_tenant(bot.tenant_id).filter(
        bot__account_id=bot.account_id, amount__gt=0, entries__gt=0).exclude(bot=bot).count()


def equity_portfolio(*, tenant: Tenant | int, since_ts: int | None = None,
                     until_ts: int | None = None, points: int = 500) -> list[dict]:
    """Total equity of all the tenant's bots over time: at each snapshot time, the sum of
    every bot's most recent equity (bots on other timeframes carry their last value)."""
    rows = equity_list(tenant=tenant)
    latest: dict[int, object] = {}
    if since_ts is not None:
        rows = rows.filter(candle_ts__gte=since_ts)
        latest = _equity_carried_in(tenant=tenant, since_ts=since_ts)
    if until_ts is not None:
        rows = rows.filter(candle_ts__lt=until_ts)
    series: list[dict] = []
    for bot_id, candle_ts, equity in rows.values_list("bot_id", "candle_ts", "equity").iterator(
            chunk_size=5000):
        latest[bot_id] = equity
        total = sum(latest.values())
        if series and series[-1]["candle_ts"] == candle_ts:
            series[-1]["equity"] = total
        else:
            series.append({"candle_ts": candle_ts, "equity": total})
    step = max(1, len(series) // points)
    if step == 1:
        return series
    thinned = series[::step]
    if thinned[-1] is not series[-1]:
        thinned.append(series[-1])  # a chart ends on the current total
    return thinned


def _equity_carried_in(*, tenant: Tenant | int, since_ts: int) -> dict[int, object]:
    """Each bot's last equity before `since_ts`, so a window's first totals count every bot."""
    last = (EquitySnapshot.objects.for_tenant(tenant)
            .filter(bot=OuterRef("pk"), candle_ts__lt=since_ts)
            .order_by("-candle_ts").values("equity")[:1])
    rows = bot_list(tenant=tenant).order_by().annotate(carried=Subquery(last))
    return {bot_id: equity for bot_id, equity in rows.values_list("pk", "carried")
            if equity is not None}


PENDING_ORDER_STATUSES = (Order.Status.INTENT, Order.Status.UNKNOWN, Order.Status.OPEN)


def bots_claimed(*, tenant: Tenant | int, lease, bot_ids: list[int]) -> list[Bot]:
    """The bots among `bot_ids` that hold exactly `lease` (what one tick claim took), with
    their accounts, in id order. Each carries `paper_currency_out_of_range`: a currency of
    its paper account whose balance is beyond the ledger's limit, else None (the engine
    pauses such a bot; asked in the same query, so a tick batch pays nothing for it)."""
    return list(bot_list(tenant=tenant).filter(tick_lease_until=lease, pk__in=bot_ids)
                .annotate(paper_currency_out_of_range=Subquery(
                    _paper_balances_out_of_range(tenant, OuterRef("account_id"))
                    .values("currency")[:1]))
                .order_by("pk"))


def _paper_balances_out_of_range(tenant: Tenant | int, account) -> QuerySet[PaperBalance]:
    ceiling = money.LEDGER.maximum
    return PaperBalance.objects.for_tenant(tenant).filter(account=account).filter(
        Q(free__gt=ceiling) | Q(free__lt=-ceiling) | Q(used__gt=ceiling) | Q(used__lt=-ceiling)
    ).order_by("currency")


def positions_for_bots(*, tenant: Tenant | int, bot_ids: list[int]
                       ) -> dict[tuple[int, str], Position]:
    """Positions of many bots at once, by (bot id, symbol)."""
    rows = Position.objects.for_tenant(tenant).filter(bot_id__in=bot_ids)
    return {(row.bot_id, row.symbol): row for row in rows}


def bots_with_pending_orders(*, tenant: Tenant | int, bot_ids: list[int]
                             ) -> tuple[set[int], set[int]]:
    """Which of `bot_ids` have orders not yet final (see `order_pending_for_bot`), and which
    of those have an entry or exit in flight (a pending order other than a resting stop),
    in one query."""
    rows = list(Order.objects.for_tenant(tenant).filter(
        bot_id__in=bot_ids, status__in=PENDING_ORDER_STATUSES)
        .order_by().values_list("bot_id", "type").distinct())
    return ({bot_id for bot_id, _type in rows},
            {bot_id for bot_id, order_type in rows if order_type not in Order.PROTECTIVE_TYPES})


def manual_order_list(*, tenant: Tenant | int) -> QuerySet[ManualOrder]:
    """The tenant's manual orders, newest first."""
    return ManualOrder.objects.for_tenant(tenant).order_by("-created_at", "-id")


def bots_with_manual_orders(*, tenant: Tenant | int, bot_ids: list[int]) -> set[int]:
    """Of `bot_ids`, the bots with a manual order waiting for a tick (one query)."""
    return set(ManualOrder.objects.for_tenant(tenant).filter(
        bot_id__in=bot_ids, status=ManualOrder.Status.PENDING).values_list("bot_id", flat=True))


def bot_is_running(*, bot: Bot) -> bool:
    """Whether the bot is running right now (re-read: a pause may have landed mid-tick)."""
    return Bot.objects.for_tenant(bot.tenant_id).filter(
        pk=bot.pk, status=Bot.Status.RUNNING).exists()


def active_feeds() -> list[tuple[str, str, str]]:
    """(exchange, symbol, timeframe) of every feed a running bot reads, across tenants
    (platform-level: feeds are shared market data, not tenant data)."""
    running = Bot.objects.all_tenants(reason="market feeds are shared by every tenant's bots")
    return list(running.filter(status=Bot.Status.RUNNING)
                .values_list("account__exchange_id", "symbol", "timeframe").distinct())


def accounts_to_reconcile() -> list[tuple[int, int]]:
    """(tenant, account) of every live account with keys and running or paused bots, across
    tenants (platform-level: the reconciliation beat fans out one task per account)."""
    accounts = ExchangeAccount.objects.all_tenants(reason="the reconciliation beat fans out "
                                                          "over every tenant's live accounts")
    return list(accounts.filter(mode=TradingMode.LIVE, bots__status__in=Bot.ACTIVE_STATUSES)
                .exclude(credential_ref="").values_list("tenant_id", "pk").distinct()
                .order_by("tenant_id", "pk"))


@dataclass(frozen=True)
class AccountBalance:
    """One currency an exchange account holds, as the exchange last reported it."""

    currency: str
    free: Decimal
    used: Decimal
    total: Decimal
    is_quote: bool  # the account's quote currency: shown as money, the rest as coins


def account_balances(*, account: ExchangeAccount) -> list[AccountBalance]:
    """The balances kept by the account's last reconciliation, by currency (empty before)."""
    return [AccountBalance(currency=currency, free=Decimal(held["free"]),
                           used=Decimal(held["used"]), total=Decimal(held["total"]),
                           is_quote=currency == account.quote_currency)
            for currency, held in sorted((account.balances or {}).items())]


def signal_hook_for_bot(*, bot: Bot) -> SignalHook | None:
    """The bot's signal webhook while it is enabled, else None."""
    return SignalHook.objects.for_tenant(bot.tenant_id).filter(bot=bot, active=True).first()


def signal_alert_list(*, bot: Bot, limit: int = 10) -> list[SignalAlert]:
    """The bot's latest signal alerts, newest first."""
    return list(SignalAlert.objects.for_tenant(bot.tenant_id).filter(bot=bot)
                .order_by("-received_at", "-pk")[:limit])


def signal_alert_list_recent(*, tenant: Tenant | int, limit: int = 10) -> list[SignalAlert]:
    """The workspace's latest signal alerts over all its bots, newest first, with their bots."""
    return list(SignalAlert.objects.for_tenant(tenant).select_related("bot")
                .order_by("-received_at", "-pk")[:limit])
