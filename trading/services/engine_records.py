"""What a tick writes besides orders: its Thought and the bot's equity at the candle.

A batch of ticks builds these rows in memory (`thought_build`, `equity_build`) and writes
them with `records_write`, one INSERT per model for the whole batch; `thought_record` is the
same path for a single row.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tenants.events import publish_on_commit
from trading.models import Bot, EquitySnapshot, Thought


def thought_build(*, bot: Bot, kind: str, summary: str, data: dict | None = None,
                  candle_ts: int | None = None) -> Thought:
    """An unsaved Thought of `bot`; its created_at is now, when the bot thought it."""
    return Thought(tenant_id=bot.tenant_id, bot=bot, kind=kind, summary=summary[:300],
                   data=data or {}, candle_ts=candle_ts)


def equity_build(*, bot: Bot, candle_ts: int, equity: float,
                 position_value: float) -> EquitySnapshot:
    """An unsaved EquitySnapshot of `bot` at `candle_ts` (rounded to the ledger's precision)."""
    equity_d = Decimal(repr(round(equity, 8)))
    value_d = Decimal(repr(round(position_value, 8)))
    return EquitySnapshot(tenant_id=bot.tenant_id, bot=bot, candle_ts=candle_ts,
                          equity=equity_d, cash=equity_d - value_d, position_value=value_d)


def records_write(*, thoughts: Sequence[Thought] = (),
                  equities: Sequence[EquitySnapshot] = ()) -> None:
    """Insert Thoughts and EquitySnapshots (one INSERT per model) and stream them.

    Equity is one row per candle and ignores a row already there: a retried tick of the
    same candle computes the same equity, so keeping the first row loses nothing.
    """
    if equities:
        EquitySnapshot.objects.bulk_create(list(equities), ignore_conflicts=True)
    if thoughts:
        Thought.objects.bulk_create(list(thoughts))
    for snapshot in equities:
        publish_on_commit(snapshot.tenant_id, "equity", snapshot.bot_id,
                          {"candle_ts": snapshot.candle_ts, "equity": str(snapshot.equity)})
    for thought in thoughts:
        publish_on_commit(thought.tenant_id, "thought", thought.bot_id,
                          {"id": thought.pk, "kind": thought.kind, "summary": thought.summary,
                           "candle_ts": thought.candle_ts})


def thought_record(*, bot: Bot, kind: str, summary: str, data: dict | None = None,
                   candle_ts: int | None = None) -> Thought:
    """Write one Thought of `bot` and stream it to the tenant's live feed."""
    thought = thought_build(bot=bot, kind=kind, summary=summary, data=data,
                            candle_ts=candle_ts)
    records_write(thoughts=[thought])
    return thought

