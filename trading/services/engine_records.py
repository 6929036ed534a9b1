"""What a tick writes besides orders: its Thought and the bot's equity at the candle."""
from __future__ import annotations

from decimal import Decimal

from dashboard.events import publish_on_commit
from trading.models import Bot, EquitySnapshot, Thought


def thought_record(*, bot: Bot, kind: str, summary: str, data: dict | None = None,
                   candle_ts: int | None = None) -> Thought:
    """Write one Thought of `bot` and stream it to the tenant's live feed."""
    thought = Thought.objects.create(tenant_id=bot.tenant_id, bot=bot, kind=kind,
                                     summary=summary[:300], data=data or {},
                                     candle_ts=candle_ts)
    publish_on_commit(bot.tenant_id, "thought", bot.pk,
                      {"id": thought.pk, "kind": kind, "summary": thought.summary,
                       "candle_ts": candle_ts})
    return thought


def equity_record(*, bot: Bot, candle_ts: int, equity: float,
                  position_value: float) -> EquitySnapshot:
    """Store the bot's equity at `candle_ts` (once per candle) and stream it.

    One INSERT that ignores a row already there: a retried tick of the same candle computes
    the same equity, so keeping the first row loses nothing and costs no extra query.
    """
    equity_d = Decimal(repr(round(equity, 8)))
    value_d = Decimal(repr(round(position_value, 8)))
    snapshot = EquitySnapshot(tenant_id=bot.tenant_id, bot=bot, candle_ts=candle_ts,
                              equity=equity_d, cash=equity_d - value_d, position_value=value_d)
    EquitySnapshot.objects.bulk_create([snapshot], ignore_conflicts=True)
    publish_on_commit(bot.tenant_id, "equity", bot.pk,
                      {"candle_ts": candle_ts, "equity": str(equity_d)})
    return snapshot
