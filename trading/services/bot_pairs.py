"""Multi-pair bots: one bot trading a list of pairs, with a limit of open positions across them.

A multi-pair bot is its lead bot, which trades the first pair and is the one lists, the plan's
count, controls and Telegram see, plus one pair bot per further pair (`Bot.lead`). For the
engine each pair bot is an ordinary bot: its own candle cursor, strategy state, position and
idempotent orders, on the one shared market-data fetch of its pair. What makes them one bot
lives here: they share the lead's settings (an edit of the lead is copied to them), its capital
per pair and its controls, and the lead's `max_open_positions` holds across the pairs
(`pair_entry_intent_create` counts under a lock on the lead row, so pairs ticking at once in
two workers cannot open one position too many).
"""
from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from aitrader.errors import Conflict, ValidationFailed
from trading import selectors
from trading.models import Bot, EquitySnapshot, Fill, Order, Position, Thought, Trade
from trading.services import orders
from trading.services.engine_records import thought_record
from trading.services.market import market_check

# What every pair of a multi-pair bot shares with its lead; `capital` is each pair's own.
SHARED_FIELDS = ("account_id", "timeframe", "strategy", "parameters", "preset", "risk",
                 "breakers", "allowed_symbols", "max_order_value", "capital")
NAME_LENGTH = 80  # Bot.name


def pair_bot_name(lead_name: str, symbol: str) -> str:
    """The name of the bot trading `symbol` for the lead named `lead_name` (names are unique
    in a workspace, and a pair bot's name shows where its thoughts and orders are listed)."""
    suffix = f" · {symbol}"
    return lead_name[:NAME_LENGTH - len(suffix)] + suffix


def refuse_pair_bot(bot: Bot) -> None:
    """Controls act on a multi-pair bot as a whole: a pair bot of it is refused (Conflict)."""
    if bot.lead_id is not None:
        lead = Bot.objects.for_tenant(bot.tenant_id).only("name").get(pk=bot.lead_id)
        raise Conflict(f"{bot.name} trades one pair of {lead.name}: act on {lead.name}.")


def pair_bots_add(*, lead: Bot, pairs: list[str]) -> list[Bot]:
    """Give `lead` a pair bot for each of `pairs` it does not trade yet, with its settings and
    status; a pair dropped earlier gets its archived bot back (with its history). Each market
    must be in the catalogue (ValidationFailed naming it)."""
    current = {pair.symbol for pair in selectors.pair_bots(bot=lead)}
    added = []
    for symbol in [pair for pair in pairs if pair != lead.symbol and pair not in current]:
        _pair_market_check(lead, symbol)
        added.append(_pair_bot_back(lead, symbol) or _pair_bot_create(lead, symbol))
    return added


def _pair_market_check(lead: Bot, symbol: str) -> None:
    """market_check of one of the lead's pairs; its refusal names the `pairs` field."""
    try:
        market_check(exchange_id=lead.account.exchange_id, symbol=symbol,
                     timeframe=lead.timeframe)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field="pairs") from None


def _pair_bot_create(lead: Bot, symbol: str) -> Bot:
    name = pair_bot_name(lead.name, symbol)
    try:
        with transaction.atomic():
            pair = Bot.objects.create(
                tenant_id=lead.tenant_id, name=name, lead=lead, symbol=symbol,
                status=lead.status, paused_reason=lead.paused_reason, paused_at=lead.paused_at,
                created_by=lead.created_by, **_shared_settings(lead))
    except IntegrityError:
        raise Conflict(f"A bot named '{name}' exists already; rename it first.") from None
    thought_record(bot=pair, kind=Thought.Kind.CONTROL,
                   summary=f"Trades {symbol} for {lead.name}.")
    return pair


def _pair_bot_back(lead: Bot, symbol: str) -> Bot | None:
    """The archived bot of a pair the lead traded before, brought back with its settings."""
    pair = Bot.objects.for_tenant(lead.tenant_id).filter(
        lead=lead, symbol=symbol, archived_at__isnull=False).first()
    if pair is None:
        return None
    for field, value in _shared_settings(lead).items():
        setattr(pair, field, value)
    pair.archived_at, pair.status = None, lead.status
    pair.paused_reason, pair.paused_at = lead.paused_reason, lead.paused_at
    pair.strategy_state, pair.last_candle_ts, pair.resume_pending = {}, None, True
    pair.save()
    thought_record(bot=pair, kind=Thought.Kind.CONTROL,
                   summary=f"Trades {symbol} for {lead.name} again.")
    return pair


def pair_bots_drop(*, lead: Bot, pairs: list[str]) -> list[str]:
    """Stop trading the lead's pairs that are not in `pairs`: each must be flat (Conflict
    otherwise); one that never traded is deleted, the others are archived with their history.
    Returns the symbols dropped."""
    dropped = [pair for pair in selectors.pair_bots(bot=lead) if pair.symbol not in pairs]
    for pair in dropped:
        problem = selectors.bot_flat_problem(bot=pair)
        if problem:
            raise Conflict(f"{lead.name} can stop trading {pair.symbol} only while that pair "
                           f"is flat; {problem}. Close all first.")
    for pair in dropped:
        _retire(pair)
    return [pair.symbol for pair in dropped]


def _retire(pair: Bot) -> None:
    traded = any(model.objects.for_tenant(pair.tenant_id).filter(bot=pair).exists()
                 for model in (Order, Fill, Trade))
    if not traded:
        pair_bot_delete(pair=pair)
        return
    pair.status, pair.archived_at = Bot.Status.STOPPED, timezone.now()
    pair.paused_reason, pair.paused_at = "no longer one of the bot's pairs", timezone.now()
    pair.save(update_fields=["status", "archived_at", "paused_reason", "paused_at",
                             "updated_at"])
    thought_record(bot=pair, kind=Thought.Kind.CONTROL, summary="No longer one of the pairs.")


def pair_bot_delete(*, pair: Bot) -> None:
    """Delete a bot that never traded, with its thoughts, positions and equity."""
    for model in (Thought, Position, EquitySnapshot):
        model.objects.for_tenant(pair.tenant_id).filter(bot=pair).delete()
    pair.delete()


def pair_bots_follow(*, lead: Bot) -> None:
    """Copy the lead's shared settings and name to its pair bots after an edit (a moved
    market or account starts each pair afresh, as it does the lead)."""
    for pair in selectors.pair_bots(bot=lead):
        moved = (pair.timeframe, pair.account_id) != (lead.timeframe, lead.account_id)
        for field, value in _shared_settings(lead).items():
            setattr(pair, field, value)
        pair.name = pair_bot_name(lead.name, pair.symbol)
        if moved:
            _pair_market_check(lead, pair.symbol)
            pair.strategy_state, pair.last_candle_ts, pair.resume_pending = {}, None, True
        try:
            with transaction.atomic():
                pair.save()
        except IntegrityError:
            raise Conflict(f"A bot named '{pair.name}' exists already.") from None


def _shared_settings(lead: Bot) -> dict:
    return {field: getattr(lead, field) for field in SHARED_FIELDS}


def pair_entry_refusal(*, bot: Bot, limit: int) -> str | None:
    """Why `bot` may not open a position now because its multi-pair bot's other pairs take
    `limit` positions already (held, or an entry working), or None. Call it inside the
    transaction that commits the entry's intent: it locks the lead row, so two pairs cannot
    both take the last slot."""
    Bot.objects.locked_for_tenant(bot.tenant_id, bot.lead_id or bot.pk)
    taken = selectors.pair_slots_taken(bot=bot)
    if taken < limit:
        return None
    return (f"{taken} of the bot's pairs hold or are entering a position, its limit of "
            f"{limit} open position{'s' if limit != 1 else ''}")


def pair_entry_intent_create(*, bot: Bot, limit: int, candle_ts: int, action: str,
                             side: str, amount: Decimal, **fields) -> tuple[Order | None, str]:
    """`orders.order_intent_create` for the entry of a pair of a multi-pair bot, when a slot
    of its max-open-positions limit is free; (None, why) when not. An intent committed by an
    earlier attempt of the same decision is returned as it is (the slot was counted then)."""
    client_order_id = orders.client_order_id_for(bot.pk, candle_ts, action)
    existing = selectors.order_get_by_client_id(tenant=bot.tenant_id,
                                                client_order_id=client_order_id)
    if existing is not None:
        return existing, ""
    with transaction.atomic():
        refusal = pair_entry_refusal(bot=bot, limit=limit)
        if refusal is not None:
            return None, refusal
        order, _created = orders.order_intent_create(bot=bot, candle_ts=candle_ts,
                                                     action=action, side=side, amount=amount,
                                                     **fields)
    return order, ""


def is_multi_pair(bot: Bot) -> bool:
    """Whether `bot` is one pair of a multi-pair bot (a pair bot, or a lead with pair bots)."""
    return bot.lead_id is not None or Bot.objects.for_tenant(bot.tenant_id).filter(
        lead_id=bot.pk, archived_at__isnull=True).exists()
