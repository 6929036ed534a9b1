"""Bot lifecycle: create, update, pause, resume, close all, circuit-breaker pauses.

Control actions are the same functions for the API, the pages, Telegram and the CLI: each
checks the actor, writes the audit row and publishes a status event after commit.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from aitrader.errors import Conflict, ValidationFailed
from tenants.actors import Actor
from tenants.events import publish_on_commit
from tenants.models import Scope, Tenant
from tenants.plans import plan_check_count, plan_require_feature
from tenants.services import audit_record
from trading import selectors
from trading.core import money
from trading.core.breakers import BreakerSettings
from trading.core.strategies import get_strategy
from trading.core.strategies.presets import risk_for
from trading.core.symbols import clean_pair_list, clean_symbol, clean_symbol_list
from trading.core.timeframes import timeframe_ms
from trading.exchanges.live_clients import require_credentials
from trading.models import Bot, Thought, TradingMode
from trading.services import bot_pairs
from trading.services.accounts import exchange_account_create, paper_account_free_label
from trading.services.engine_records import thought_record
from trading.services.guards import require_real_market_data
from trading.services.market import market_check
from trading.signals import bot_auto_paused, bot_drift_found
from trading.tasks import close_all_task

EDITABLE_FIELDS = ("name", "parameters", "preset", "risk", "breakers", "allowed_symbols",
                   "max_order_value", "capital", "symbol", "timeframe", "account_id", "pairs")
# What the bot trades on: changed only while it is flat (no position, no working order).
MARKET_FIELDS = ("symbol", "timeframe", "account_id")


# The bot's settings that are money, and the limit each one must respect.
BOT_MONEY_LIMITS = {"capital": money.CAPITAL, "max_order_value": money.ORDER_VALUE}

# The exchange whose prices a paper account made along with a new bot follows.
NEW_PAPER_EXCHANGE = "binance"

def _validate_config(*, strategy: str, parameters: dict, preset: str, risk: dict,
                     timeframe: str, symbol: str, breakers: dict) -> dict:
    timeframe_ms(timeframe)
    clean_symbol(symbol)
    cleaned = get_strategy(strategy).validate_params(parameters or {})
    BreakerSettings.from_overrides(breakers)
    risk_for(preset, risk)  # raises ValidationFailed naming the bad field
    return cleaned


@transaction.atomic
def bot_create(*, tenant: Tenant, actor: Actor, name: str, account_id: int, symbol: str,
               timeframe: str, strategy: str, parameters: dict | None = None,
               preset: str = "balanced", risk: dict | None = None,
               capital: Decimal = Decimal("1000"), pairs: list[str] | str | None = None,
               **extra: Any) -> Bot:
    """Create a running bot after checking role, plan limits and its configuration.

    With `pairs` it trades each of them (its own `symbol` first), each pair with `capital`
    of its own, at most the preset's `max_open_positions` open at once (bot_pairs)."""
    actor.require(Scope.CONTROL)
    account = selectors.exchange_account_get(tenant=tenant, account_id=account_id)
    plan_check_count(tenant.plan, "max_bots", selectors.bot_running_count(tenant=tenant))
    _require_live_ready(tenant, account)
    symbol = symbol.strip().upper()
    cleaned = _validate_config(strategy=strategy, parameters=parameters or {}, preset=preset,
                               risk=risk or {}, timeframe=timeframe, symbol=symbol,
                               breakers=extra.get("breakers") or {})
    market_check(exchange_id=account.exchange_id, symbol=symbol, timeframe=timeframe)
    pairs = clean_pair_list(symbol, pairs)
    extra = {**extra, **_checked_money({"capital": capital, **extra})}
    if "allowed_symbols" in extra:
        extra["allowed_symbols"] = clean_symbol_list(extra["allowed_symbols"])
    try:
        with transaction.atomic():
            bot = Bot.objects.create(
                tenant=tenant, name=name.strip(), account=account, symbol=symbol,
                timeframe=timeframe, strategy=strategy, parameters=cleaned, preset=preset,
                risk=risk or {}, created_by=actor.user, **extra)
    except IntegrityError:
        raise Conflict(f"A bot named '{name}' exists already.") from None
    bot_pairs.pair_bots_add(lead=bot, pairs=pairs)
    audit_record(tenant=tenant, actor=actor, action="bot.create", target=bot.name,
                 details={"strategy": strategy, "symbol": symbol, "mode": account.mode,
                          **({"pairs": pairs} if len(pairs) > 1 else {})})
    _publish_status(bot)
    return bot


def _require_live_ready(tenant: Tenant, account) -> None:
    """A bot may trade on a live account only when the plan allows live trading, the account
    holds keys and the market data is the exchange's own (never replayed samples)."""
    if account.mode != TradingMode.LIVE:
        return
    plan_require_feature(tenant.plan, "live_trading")
    require_credentials(account)
    require_real_market_data(exchange_id=account.exchange_id)


@transaction.atomic
def bot_create_on_new_paper_account(*, tenant: Tenant, actor: Actor, **bot: Any) -> Bot:
    """`bot_create` on a paper account made for it (binance, the next free "Paper N" label);
    a bot that is refused leaves no account behind (one transaction)."""
    account = exchange_account_create(
        tenant=tenant, actor=actor, label=paper_account_free_label(tenant=tenant),
        exchange_id=NEW_PAPER_EXCHANGE, mode=TradingMode.PAPER)
    return bot_create(tenant=tenant, actor=actor, account_id=account.pk, **bot)


@transaction.atomic
def bot_update(*, tenant: Tenant, actor: Actor, bot_id: int, **changes: Any) -> Bot:
    """Change a bot's name, parameters, preset, risk or guards; and its symbol, timeframe,
    account or pairs while it is flat (a pair only while that pair is flat). A multi-pair
    bot's pairs follow every change."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    bot_pairs.refuse_pair_bot(bot)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"These fields cannot be changed: {', '.join(sorted(unknown))}.",
                               field=sorted(unknown)[0])
    wanted_pairs = changes.pop("pairs", None)
    moved = _apply_market_changes(tenant, bot, changes)
    pairs = clean_pair_list(bot.symbol, selectors.bot_pairs(bot=bot)[1:]
                            if wanted_pairs is None else wanted_pairs)
    if "allowed_symbols" in changes:
        changes["allowed_symbols"] = clean_symbol_list(changes["allowed_symbols"])
    for field, value in {**changes, **_checked_money(changes)}.items():
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
    pairs_changed = _apply_pairs(bot, pairs)
    audit_record(tenant=tenant, actor=actor, action="bot.update", target=bot.name,
                 details={"fields": sorted([*changes, *moved, *pairs_changed])})
    return bot


def _apply_pairs(bot: Bot, pairs: list[str]) -> list[str]:
    """Bring the bot's pair bots to `pairs` and its settings; ["pairs"] when the set changed."""
    dropped = bot_pairs.pair_bots_drop(lead=bot, pairs=pairs[1:])
    bot_pairs.pair_bots_follow(lead=bot)
    added = bot_pairs.pair_bots_add(lead=bot, pairs=pairs)
    return ["pairs"] if dropped or added else []


def _apply_market_changes(tenant: Tenant, bot: Bot, changes: dict[str, Any]) -> list[str]:
    """Move a flat bot to another symbol, timeframe or account (popped from `changes`); it
    starts afresh there: no strategy state, and no candle from before the change."""
    wanted = {field: changes.pop(field) for field in MARKET_FIELDS if field in changes}
    if "symbol" in wanted:
        wanted["symbol"] = str(wanted["symbol"]).strip().upper()
    moved = {field: value for field, value in wanted.items() if getattr(bot, field) != value}
    if not moved:
        return []
    for member in [bot, *selectors.pair_bots(bot=bot)]:
        problem = selectors.bot_flat_problem(bot=member)
        if problem:
            where = f"on {member.symbol} " if member is not bot else ""
            raise Conflict(f"{bot.name} can change its {', '.join(sorted(moved))} only while "
                           f"flat; {where}{problem}. Close all first.")
    if "account_id" in moved:
        account = selectors.exchange_account_get(tenant=tenant, account_id=moved["account_id"])
        _require_live_ready(tenant, account)
        bot.account = account
    for field, value in moved.items():
        setattr(bot, field, value)
    market_check(exchange_id=bot.account.exchange_id, symbol=bot.symbol,
                 timeframe=bot.timeframe)
    bot.strategy_state, bot.last_candle_ts, bot.resume_pending = {}, None, True
    thought_record(bot=bot, kind=Thought.Kind.CONTROL,
                   summary=f"Now trades {bot.symbol} {bot.timeframe} on {bot.account.label}.")
    return sorted(moved)


def _checked_money(values: dict[str, Any]) -> dict[str, Decimal]:
    """The bot's money settings among `values` as Decimals checked against the limits of
    `trading.core.money` (ValidationFailed names the field). No maximum order value (None) is
    allowed; capital is required."""
    return {field: limit.check(values[field], field=field)
            for field, limit in BOT_MONEY_LIMITS.items()
            if field in values and (values[field] is not None or field == "capital")}


@transaction.atomic
def bot_pause(*, tenant: Tenant, actor: Actor, bot_id: int, reason: str = "") -> Bot:
    """Pause a bot (every pair of a multi-pair bot): it keeps its positions and places
    nothing until resumed."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    bot_pairs.refuse_pair_bot(bot)
    for member in [bot, *selectors.pair_bots(bot=bot)]:
        if member.status != Bot.Status.PAUSED:
            _set_paused(member, reason or f"paused by {actor.label}")
    audit_record(tenant=tenant, actor=actor, action="bot.pause", target=bot.name)
    return bot


@transaction.atomic
def bot_resume(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Resume a paused or stopped bot, and every paused pair of a multi-pair bot;
    circuit-breaker counters start again from zero.

    The resume marker makes the next tick skip every candle closed while the bot was paused:
    it acts (and catches up) only from the first candle that closes after it."""
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    bot_pairs.refuse_pair_bot(bot)
    members = [bot, *selectors.pair_bots(bot=bot)]
    if bot.status != Bot.Status.RUNNING:
        _check_plan_allows_running(tenant, bot)
    elif any(member.status != Bot.Status.RUNNING for member in members):
        _require_live_ready(tenant, bot.account)
    for member in members:  # the lead always (a resume resets its counters), paused pairs
        if member is bot or member.status != Bot.Status.RUNNING:
            _resume_one(member, actor)
    audit_record(tenant=tenant, actor=actor, action="bot.resume", target=bot.name)
    return bot


def _resume_one(bot: Bot, actor: Actor) -> None:
    bot.resume_pending = bot.resume_pending or bot.status != Bot.Status.RUNNING
    bot.status = Bot.Status.RUNNING
    bot.paused_reason, bot.paused_at = "", None
    bot.stale_checks = bot.exchange_errors = 0
    bot.next_tick_at = timezone.now()
    bot.save(update_fields=["status", "paused_reason", "paused_at", "stale_checks",
                            "exchange_errors", "next_tick_at", "resume_pending", "updated_at"])
    thought_record(bot=bot, kind=Thought.Kind.CONTROL, summary=f"Resumed by {actor.label}.")
    _publish_status(bot)


def _check_plan_allows_running(tenant: Tenant, bot: Bot) -> None:
    """A resume must fit the plan as it is now (a downgrade paused bots for this reason)."""
    _require_live_ready(tenant, bot.account)
    plan_check_count(tenant.plan, "max_bots", selectors.bot_running_count(tenant=tenant))


@transaction.atomic
def bot_close_all(*, tenant: Tenant, actor: Actor, bot_id: int) -> Bot:
    """Pause the bot and queue the close: cancel its open orders, sell its position.

    The request is recorded on the bot (`close_requested_at`) in this transaction, so it
    survives an unreachable exchange or a lost task: the engine's ticks retry it until the
    position is sold, or give it up with the reason (`trading.engine`). The first attempt
    runs after commit and never fails the request.
    """
    actor.require(Scope.CONTROL)
    bot = Bot.objects.locked_for_tenant(tenant, bot_id)
    bot_pairs.refuse_pair_bot(bot)
    for member in [bot, *selectors.pair_bots(bot=bot)]:
        _request_close(member, actor)
    audit_record(tenant=tenant, actor=actor, action="bot.close_all", target=bot.name)
    return bot


def _request_close(bot: Bot, actor: Actor) -> None:
    if bot.status != Bot.Status.PAUSED:
        _set_paused(bot, f"close all by {actor.label}")
    bot.close_requested_at = bot.next_tick_at = timezone.now()
    bot.exchange_errors = 0  # a new request gets the breaker's whole allowance of attempts
    bot.save(update_fields=["close_requested_at", "next_tick_at", "exchange_errors",
                            "updated_at"])
    # robust: a broker that is down must not turn the recorded request into a 500; the
    # ticks carry the close out all the same.
    transaction.on_commit(lambda: close_all_task.delay(bot.tenant_id, bot.pk), robust=True)


def bot_close_clear(*, bot: Bot) -> bool:
    """The close `bot` was loaded with is done: clear the request, unless a newer "close
    all" came in meanwhile (that one runs on). Returns whether it was cleared."""
    return Bot.objects.for_tenant(bot.tenant_id).filter(
        pk=bot.pk, close_requested_at=bot.close_requested_at).update(
        close_requested_at=None) == 1


@transaction.atomic
def bot_close_give_up(*, bot: Bot, reason: str, data: dict | None = None) -> Bot:
    """A requested close failed past the breaker's bound: drop the request and pause the bot
    with the reason, a Thought and an alert, as an auto-pause does (also when it is paused
    already: the reason changes, the alert goes out)."""
    bot = Bot.objects.locked_for_tenant(bot.tenant_id, bot.pk)
    if bot.close_requested_at is None:  # carried out or given up meanwhile
        return bot
    bot.close_requested_at = None
    bot.save(update_fields=["close_requested_at", "updated_at"])
    _pause_and_alert(bot, reason, data)
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
    bot = Bot.objects.locked_for_tenant(bot.tenant_id, bot.pk)
    if bot.status != Bot.Status.RUNNING:
        return bot
    _pause_and_alert(bot, reason, data)
    return bot


def _pause_and_alert(bot: Bot, reason: str, data: dict | None) -> None:
    _set_paused(bot, f"auto-paused: {reason}", kind=Thought.Kind.BREAKER)
    audit_record(tenant=bot.tenant, actor=Actor.system(bot.tenant, via="engine"),
                 action="bot.auto_pause", target=bot.name, details={"reason": reason})
    publish_on_commit(bot.tenant_id, "alert", bot.pk,
                      {"kind": "auto_pause", "reason": reason, **(data or {})})
    transaction.on_commit(lambda: bot_auto_paused.send(
        sender=Bot, tenant_id=bot.tenant_id, bot_id=bot.pk, reason=reason))


def bot_drift_alert(*, bot: Bot, summary: str, data: dict) -> None:
    """Reconciliation found drift on a bot that is not running: tell the live feed and, after
    commit, the tenant's alerts (a running bot is auto-paused instead, which alerts)."""
    publish_on_commit(bot.tenant_id, "alert", bot.pk, {"kind": "drift", "reason": summary,
                                                        **data})
    transaction.on_commit(lambda: bot_drift_found.send(
        sender=Bot, tenant_id=bot.tenant_id, bot_id=bot.pk, summary=summary))


def _publish_status(bot: Bot) -> None:
    publish_on_commit(bot.tenant_id, "status", bot.pk,
                      {"status": bot.status, "reason": bot.paused_reason,
                       "paused_at": bot.paused_at.isoformat() if bot.paused_at else None})


def _claimable(now: datetime) -> Q:
    """Bots a tick may take now: running or paused, and no unexpired lease on them."""
    return (Q(tick_lease_until__isnull=True) | Q(tick_lease_until__lt=now)) & Q(
        status__in=Bot.ACTIVE_STATUSES)


def tick_lease_seconds() -> float:
    """How long a tick lease lasts unrenewed: one tick interval, so a worker that dies
    holding it costs its bots at most one interval."""
    return float(settings.AITRADER_ENGINE_TICK_SECONDS)


def _new_lease(now: datetime) -> datetime:
    """A lease ending within one tick interval of `now`. Its random microseconds (under a
    tenth of the interval) name the claim (see `bot_claim_ticks`); they are taken off, never
    added, so the lease never outlives the interval the scheduler waits before it queues the
    bot again."""
    seconds = tick_lease_seconds()
    return now + timedelta(seconds=seconds,
                           microseconds=-1 - secrets.randbelow(int(seconds * 100_000)))


def bot_claim_tick(*, bot_id: int, now: datetime) -> bool:
    """Take the bot's tick lease; False when another tick of it holds the lease.

    A conditional UPDATE is the lock: it works across threads, processes and machines, and a
    crashed tick's lease simply expires.
    """
    lease = _new_lease(now)
    leases = Bot.objects.all_tenants(reason="tick leases are the scheduler's, by bot id")
    claimed = leases.filter(_claimable(now), pk=bot_id).update(
        tick_lease_until=lease, next_tick_at=lease)
    return claimed == 1


def bot_claim_ticks(*, tenant_id: int, bot_ids: list[int], now: datetime) -> datetime:
    """Take the tick lease of every free bot among `bot_ids` in one UPDATE; returns the lease.

    The lease value carries random microseconds, so it names this claim: the bots holding
    exactly that value are the ones this caller took (`selectors.bots_claimed` loads them),
    while bots another tick holds keep their own lease and are left out.

    The claim also makes each bot due again when its lease lapses: if this worker dies, the
    scheduler picks the bot up then, within one tick interval (the tick's finish sets the
    real next tick).
    """
    lease = _new_lease(now)
    Bot.objects.for_tenant(tenant_id).filter(_claimable(now), pk__in=bot_ids).update(
        tick_lease_until=lease, next_tick_at=lease)
    return lease


def bot_renew_ticks(*, tenant_id: int, lease: datetime, bot_ids: list[int],
                    now: datetime) -> tuple[datetime, set[int]]:
    """Extend a running batch's lease from `now`; returns (new lease, ids still held).

    Only bots still holding `lease` are renewed: a bot whose lease lapsed and was taken by
    another tick is not, and the caller must leave it alone (its writes would be dropped
    anyway, its orders would not)."""
    renewed = _new_lease(now)
    count = Bot.objects.for_tenant(tenant_id).filter(
        tick_lease_until=lease, pk__in=bot_ids).update(tick_lease_until=renewed,
                                                       next_tick_at=renewed)
    if count == len(bot_ids):
        return renewed, set(bot_ids)
    return renewed, set(Bot.objects.for_tenant(tenant_id).filter(
        tick_lease_until=renewed, pk__in=bot_ids).values_list("pk", flat=True))


def bot_defer_ticks(*, bot_ids: list[int], until: datetime) -> None:
    """Push queued bots' next tick out so the scheduler does not queue them twice."""
    queued = Bot.objects.all_tenants(reason="the scheduler queues due bots of every tenant")
    queued.filter(pk__in=bot_ids).update(next_tick_at=until)


# What a tick writes on its bot. Status, paused_reason and realized_pnl are left out on
# purpose: pauses and fills change them concurrently, and a tick must not write them back.
ENGINE_STATE_FIELDS = ("next_tick_at", "last_candle_ts", "stale_checks", "exchange_errors",
                       "peak_equity", "cooldown_until_ts", "strategy_state", "resume_pending")


def bot_finish_ticks(*, tenant_id: int, lease: datetime,
                     states: dict[int, dict[str, Any]]) -> int:
    """Release a batch's leases and store each bot's engine state; returns the rows written.

    `states` maps a bot id to the fields its tick changed (none: only the lease is released);
    a field a tick left alone keeps its value, so a counter reset by a resume during the tick
    survives. Only bots still holding `lease` are written: a tick that outlived its lease
    leaves the newer tick's state alone.

    One UPDATE joined to a VALUES list (per ~100 bots on SQLite's parameter limit): Django's
    `bulk_update` builds a CASE per field with one WHEN per bot, which cost more than all the
    batch's ticks together (O(N) Python expressions, O(N²) comparisons in the database).
    """
    if not states:
        return 0
    _check_engine_states(states)
    fields = [Bot._meta.get_field(name) for name in ENGINE_STATE_FIELDS
              if any(name in state for state in states.values())]
    columns = [Bot._meta.pk, *fields]
    rows = [[field.get_db_prep_save(state.get(field.name), connection) for field in fields]
            for state in states.values()]
    size = connection.ops.bulk_batch_size([*columns, Bot._meta.pk, Bot._meta.pk], rows)
    ids = list(states)
    written = 0
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            values = [[bot_id, *row] for bot_id, row in
                      zip(ids[start:start + size], rows[start:start + size], strict=True)]
            cursor.execute(*_finish_ticks_sql(columns, values, tenant_id, lease))
            written += cursor.rowcount
    return written


def _check_engine_states(states: dict[int, dict[str, Any]]) -> None:
    """Refuse what the batched UPDATE cannot express: other fields, or clearing a field (its
    NULL means "left alone")."""
    unknown = {name for state in states.values() for name in state} - set(ENGINE_STATE_FIELDS)
    if unknown:
        raise ValueError(f"not engine state: {', '.join(sorted(unknown))}")
    if any(value is None for state in states.values() for value in state.values()):
        raise ValueError("a tick never clears engine state")


def _finish_ticks_sql(columns: list, values: list[list], tenant_id: int,
                      lease: datetime) -> tuple[str, list]:
    """UPDATE bot SET lease = NULL, field = COALESCE(new, old)... FROM (VALUES ...) for the
    bots of `tenant_id` holding `lease`. A tick never clears an engine field, so NULL in the
    VALUES list means "left alone". PostgreSQL needs the VALUES typed, SQLite must not."""
    quote = connection.ops.quote_name
    table = quote(Bot._meta.db_table)
    lease_field = Bot._meta.get_field("tick_lease_until")
    pk, tenant, lease_column = (f"{table}.{quote(name)}" for name in (
        Bot._meta.pk.column, Bot._meta.get_field("tenant").column, lease_field.column))
    typed = connection.vendor == "postgresql"
    row = "({})".format(", ".join(f"CAST(%s AS {column.db_type(connection)})" if typed
                                  else "%s" for column in columns))
    assignments = [f"{quote(lease_field.column)} = NULL"] + [
        f"{quote(column.column)} = COALESCE(v.column{number}, {table}.{quote(column.column)})"
        for number, column in enumerate(columns[1:], start=2)]
    # Identifiers come from the model's metadata; every value travels as a parameter.
    sql = (f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608
           f"FROM (VALUES {', '.join([row] * len(values))}) AS v "
           f"WHERE {pk} = v.column1 AND {tenant} = %s AND {lease_column} = %s")
    params = [value for each in values for value in each]
    return sql, [*params, tenant_id, lease_field.get_db_prep_save(lease, connection)]


def bot_count_exchange_error(*, bot: Bot) -> int:
    """Add one to the bot's consecutive exchange errors; returns the new count."""
    Bot.objects.for_tenant(bot.tenant_id).filter(pk=bot.pk).update(
        exchange_errors=F("exchange_errors") + 1)
    bot.exchange_errors += 1
    return bot.exchange_errors
