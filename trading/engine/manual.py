"""A trader's order by hand, carried out by the bot's tick (see trading.services.manual).

Enter and exit become a Decision of the pure core (`manual_entry` passes the same refusals and
sizing as a signal's entry) and go through `_act`, the path of the bot's own orders: the
intent is committed under a client order id made from the candle and the action before it is
sent, so a retried tick follows the same order instead of sending another. A cancel goes
through `orders.order_cancel`. Either way the request is closed with what happened.
"""
from __future__ import annotations

from decimal import Decimal

from trading import selectors
from trading.core.decisions import manual_entry, manual_exit
from trading.core.strategies.presets import risk_for
from trading.engine.batch import TickBatch, TickOutcome, _interval
from trading.engine.decision_inputs import _bot_view, _market_view, _thought_data
from trading.engine.feed import _exchange_once, bot_market_snapshot
from trading.engine.order_flow import _act, _protect, _sync_before_deciding
from trading.models import Bot, ManualOrder, Order, Thought
from trading.services import manual, orders


def _manual_step(bot: Bot, batch: TickBatch, request: ManualOrder) -> TickOutcome:
    """Carry out the bot's oldest manual request on its newest closed candle."""
    snapshot = bot_market_snapshot(bot)
    closed = snapshot.closed()
    if not len(closed):
        return _refuse(bot, batch, request, "no closed candle yet to trade on")
    candle_ts = int(closed.timestamp[-1])
    exchange = _exchange_once(bot, closed)
    if bot.pk in batch.pending:
        trouble = _sync_before_deciding(bot, batch, exchange, candle_ts)
        if trouble is not None:
            return trouble  # the request waits for the next tick
    if request.action == ManualOrder.Action.CANCEL:
        return _cancel(bot, batch, request, exchange())
    market = _market_view(bot, snapshot, candle_ts)
    view = _bot_view(bot, market, batch.position(bot))
    decision = (manual_entry(market, view, risk_for(bot.preset, bot.risk))
                if request.action == ManualOrder.Action.ENTER
                else manual_exit(view, float(request.fraction)))
    if decision.side is None:
        return _refuse(bot, batch, request, decision.summary, candle_ts)
    if decision.side == "buy" and not selectors.bot_is_running(bot=bot):
        return _refuse(bot, batch, request, "the bot was paused meanwhile", candle_ts)
    if batch.lease is not None and not batch.lease.keep(bot.pk):
        batch.discard(bot)  # another tick holds the bot now: it carries the request out
        return TickOutcome(bot.pk, "skipped", "the tick lease lapsed; nothing placed")
    decision, order = _act(bot, batch, exchange, decision, candle_ts,
                           expected_price=Decimal(repr(market.close)))
    if order is None:
        return _refuse(bot, batch, request, decision.summary, candle_ts)
    if order.created_at < request.created_at:
        return _refuse(bot, batch, request, "one manual order of a kind per candle: this "
                       "candle's has been placed already; ask again on the next candle",
                       candle_ts)
    if order.status not in (*selectors.PENDING_ORDER_STATUSES, Order.Status.CLOSED):
        return _refuse(bot, batch, request, order.error or f"the order was {order.status}",
                       candle_ts)
    _protect(bot, batch, exchange, candle_ts, order)
    batch.think(bot, Thought.Kind.ORDER, decision.summary, candle_ts=candle_ts,
                data=_thought_data(market, view, decision, order))
    manual.manual_order_finish(request=request, done=True, order=order,
                               note=f"{order.get_side_display()} order {order.status}")
    batch.finish(bot, next_tick_at=batch.now + _interval())
    return TickOutcome(bot.pk, "ticked", decision.summary)


def _cancel(bot: Bot, batch: TickBatch, request: ManualOrder, exchange) -> TickOutcome:
    order = selectors.order_pending_for_bot(bot=bot).filter(pk=request.order_id).first()
    if order is None:
        return _refuse(bot, batch, request, "the order is no longer working")
    order = orders.order_cancel(bot=bot, order=order, exchange=exchange)
    summary = f"By hand: order {order.pk} is {order.get_status_display().lower()}."
    batch.think(bot, Thought.Kind.ORDER, summary, data={"order": order.pk})
    manual.manual_order_finish(request=request, done=True, order=order, note=summary)
    batch.finish(bot, next_tick_at=batch.now + _interval())
    return TickOutcome(bot.pk, "ticked", summary)


def _refuse(bot: Bot, batch: TickBatch, request: ManualOrder, why: str,
            candle_ts: int | None = None) -> TickOutcome:
    """Close the request as refused with the reason, in a Thought too."""
    batch.think(bot, Thought.Kind.ORDER, f"Manual {request.action} not carried out: {why}",
                candle_ts=candle_ts)
    manual.manual_order_finish(request=request, done=False, note=why)
    batch.finish(bot, next_tick_at=batch.now + _interval())
    return TickOutcome(bot.pk, "idle", f"manual {request.action} refused: {why}")
