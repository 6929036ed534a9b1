"""Carrying a decision out: follow the bot's pending orders, cancel or wait for working ones,
place the order, keep its resting stop."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal

from trading import selectors
from trading.core.candles import Candles
from trading.core.decisions import Decision
from trading.core.strategies.presets import risk_for
from trading.core.working_orders import WorkingOrder, WorkingPlan, plan_with_working
from trading.engine.batch import TickBatch, TickOutcome
from trading.engine.failures import _exchange_trouble, _rate_limited
from trading.engine.feed import _newest
from trading.exchanges.base import Exchange, ExchangeError, RateLimited, round_down_to_step
from trading.exchanges.factory import exchange_for
from trading.models import Bot, Order
from trading.services import bot_pairs, ledger, orders, protection

# The whole engine logs as one logger, "trading.engine", as it did as one module, so
# log levels, filters and alerts set on that name keep covering every part of a tick.
logger = logging.getLogger("trading.engine")
AMOUNT_STEP = Decimal("0.00000001")
PRICE_STEP = Decimal("1e-12")  # a stop/target level as the Order row stores it


def _sync_pending(bot: Bot, exchange: Exchange,
                  newest_candle_ts: int | None) -> tuple[int, list[Order]]:
    """Bring every pending order up to date; returns how many exchange errors it met and the
    orders still working afterwards (an order whose sync failed is still working). An intent
    older than its bound expires instead of being sent (`newest_candle_ts` dates it)."""
    errors, working = 0, []
    for order in selectors.order_pending_for_bot(bot=bot):
        try:
            order = orders.order_sync(bot=bot, order=order, exchange=exchange,
                                      newest_candle_ts=newest_candle_ts)
        except RateLimited:
            raise
        except ExchangeError as exc:
            logger.warning("sync of order %s failed: %s", order.client_order_id, exc)
            errors += 1
        if order.is_pending:
            working.append(order)
    return errors, working


def _resolve_unanswered(bot: Bot, batch: TickBatch, closed: Candles) -> None:
    """Between candles, settle the bot's orders whose answer was lost (or never sent): an
    unknown order is looked up by its client id on the next tick, not a candle later. Open
    orders wait for the candle (following them every tick would cost a request each)."""
    if bot.pk not in batch.pending:
        return
    unanswered = list(selectors.order_unanswered_for_bot(bot=bot))
    if not unanswered:
        return
    exchange = exchange_for(bot.account, closed)
    for order in unanswered:
        try:
            orders.order_sync(bot=bot, order=order, exchange=exchange,
                              newest_candle_ts=_newest(closed))
        except ExchangeError as exc:  # still unknown: the next tick asks again
            logger.warning("sync of order %s failed: %s", order.client_order_id, exc)
    batch.refresh_position(bot)


def _sync_before_deciding(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange],
                          candle_ts: int) -> TickOutcome | None:
    """Follow the bot's pending orders; an outcome ends the tick (rate limit, errors)."""
    try:
        errors, batch.working[bot.pk] = _sync_pending(bot, exchange(), candle_ts)
    except RateLimited as exc:
        return _rate_limited(bot, batch, exc)
    if errors:
        return _exchange_trouble(bot, batch, errors)
    batch.refresh_position(bot)
    return None


def _places_order(decision: Decision) -> bool:
    return decision.side is not None and decision.amount > 0


def _act(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange], decision: Decision,
         candle_ts: int, *, expected_price: Decimal) -> tuple[Decision, Order | None]:
    """Carry the decision out beside the bot's working orders (one per side): follow, cancel
    or wait for them as `plan_with_working` says; returns the decision as carried out.

    A market order carries the price it expects (a touched stop/target level, else the
    decision candle's close), so an order below the market's minimum is skipped unsent."""
    if not _places_order(decision):
        return decision, None
    # A stop resting at the exchange is not a working exit: an exit cancels it first.
    working = [order for order in batch.working.get(bot.pk, []) if not order.is_protective]
    plan = plan_with_working(decision.side, [_working_view(order) for order in working])
    if plan.cancel and not _cancel_working(bot, batch, exchange(), working, plan):
        return _noted(decision, "The working entry could not be canceled; the exit waits "
                                "for the next tick."), None
    if not plan.place:
        return _noted(decision, plan.note), None
    if decision.side == "sell" and not _release_stops(bot, batch, exchange):
        return _noted(decision, "The stop resting at the exchange could not be canceled; "
                                "the exit waits for the next tick."), None
    amount = _order_amount(bot, batch, decision, exchange)
    if amount <= 0:
        return decision, None
    intent = {"candle_ts": candle_ts, "action": decision.reason, "side": decision.side,
              "amount": amount, "stop_price": _trigger_price(decision),
              "expected_price": _trigger_price(decision) or expected_price}
    if _opens_pair_position(bot, batch, decision):
        order, refusal = bot_pairs.pair_entry_intent_create(
            bot=bot, limit=risk_for(bot.preset, bot.risk).max_open_positions, **intent)
        if order is None:
            return _refused(decision, f"No entry: {refusal}."), None
    else:
        order, _created = orders.order_intent_create(bot=bot, **intent)
    return _noted(decision, plan.note), orders.order_submit(bot=bot, order=order,
                                                            exchange=exchange(),
                                                            newest_candle_ts=candle_ts)


def _opens_pair_position(bot: Bot, batch: TickBatch, decision: Decision) -> bool:
    """Whether the decision opens a position on a pair of a multi-pair bot (an entry while
    flat), which takes one of the bot's open-position slots."""
    if decision.side != "buy":
        return False
    position = batch.position(bot)
    holding = position is not None and position.amount > 0 and position.entries > 0
    return not holding and bot_pairs.is_multi_pair(bot)


def _refused(decision: Decision, why: str) -> Decision:
    """The decision as carried out when its order was refused before it was made: no order."""
    return replace(decision, summary=f"{decision.summary} {why}", side=None, amount=0.0,
                   reason="", data={**decision.data, "refused": why})


def _trigger_price(decision: Decision) -> Decimal | None:
    """The touched stop/target level a protective exit carries (the paper exchange fills it
    there, on the candle it was checked against)."""
    if decision.trigger is None:
        return None
    return Decimal(repr(decision.trigger)).quantize(PRICE_STEP)


def _release_stops(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange]) -> bool:
    """Cancel the bot's resting stops before it sells, so their coins are free and nothing is
    sold twice; True when none can fill any more. A stop that filled meanwhile has been
    recorded, so the position re-read here is what is left to sell."""
    if not protection.stops_rest_at_exchange(account=bot.account):
        return True
    released = protection.protection_release(bot=bot, exchange=exchange())
    batch.refresh_position(bot)
    return released


def _protect(bot: Bot, batch: TickBatch, exchange: Callable[[], Exchange], candle_ts: int,
             order: Order | None) -> None:
    """Leave the stop the position needs resting at the exchange, where stops can rest there
    (live accounts on exchanges with stop orders); exchange trouble waits for the next tick."""
    if not protection.stops_rest_at_exchange(account=bot.account):
        return
    position = batch.position(bot)
    if order is None and bot.pk not in batch.pending and (position is None
                                                          or position.amount <= 0):
        return  # flat, nothing ordered, nothing resting: nothing to protect or cancel
    try:
        protection.protection_ensure(bot=bot, exchange=exchange(), candle_ts=candle_ts)
    except ExchangeError as exc:
        logger.warning("stop of bot %s not updated: %s", bot.pk, exc)


def _working_view(order: Order) -> WorkingOrder:
    return WorkingOrder(client_order_id=order.client_order_id, side=order.side,
                        amount=order.amount, filled=order.filled, status=order.status)


def _cancel_working(bot: Bot, batch: TickBatch, exchange: Exchange, working: list[Order],
                    plan: WorkingPlan) -> bool:
    """Cancel the plan's orders; True when none of them can fill any more. The fills they
    made up to the cancel are recorded, so the position re-read here is what the exit sells."""
    ids = {order.client_order_id for order in plan.cancel}
    done = True
    for order in (order for order in working if order.client_order_id in ids):
        try:
            done = not orders.order_cancel(bot=bot, order=order, exchange=exchange).is_pending \
                and done
        except ExchangeError as exc:
            logger.warning("cancel of order %s failed: %s", order.client_order_id, exc)
            done = False
    batch.refresh_position(bot)
    return done


def _order_amount(bot: Bot, batch: TickBatch, decision: Decision,
                  exchange: Callable[[], Exchange]) -> Decimal:
    """The amount to order: an exit sells what the bot holds now by the ledger (never more:
    net of fees taken in the coin, after a canceled entry what filled, rounded down to the
    exchange's lot size), an entry buys what the decision sized. A partial exit by hand sells
    its share of that, rounded down to the lot too."""
    if decision.side == "sell":
        step = exchange().amount_step(bot.symbol)
        held = ledger.position_exit_amount(bot=bot, step=step)
        fraction = decision.data.get("fraction")
        if fraction is None or fraction >= 1:
            return held
        return round_down_to_step(held * Decimal(repr(fraction)), step)
    return Decimal(repr(decision.amount)).quantize(AMOUNT_STEP, rounding=ROUND_DOWN)


def _noted(decision: Decision, note: str) -> Decision:
    """The decision with what the working orders made of it added to its summary."""
    if not note:
        return decision
    return replace(decision, summary=f"{decision.summary} {note}",
                   data={**decision.data, "working_orders": note})
