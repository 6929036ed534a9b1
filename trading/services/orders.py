"""Idempotent order placement and order synchronisation.

The order's intent is committed under a deterministic client order id (bot, candle, action)
before anything is sent. Whatever happens next, a crash, a lost answer or a retried task, the
next attempt finds the row by that id and asks the exchange about it by the same id instead
of sending again; the unique constraint makes a second row impossible.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.events import publish_on_commit
from trading import selectors
from trading.core.timeframes import timeframe_ms
from trading.exchanges.base import (
    DuplicateClientOrderId,
    Exchange,
    ExchangeError,
    OrderNotFound,
    OrderRequest,
    OrderState,
    PermanentExchangeError,
    TemporaryExchangeError,
)
from trading.exchanges.limits import order_limits_refusal
from trading.models import Bot, Order, Thought
from trading.services.engine_records import thought_record
from trading.services.guards import LiveOrderRefused, live_order_guard
from trading.services.ledger import fill_record
from trading.signals import order_failed

logger = logging.getLogger(__name__)

ACTION_CODES = {"entry": "en", "exit": "ex", "stop_loss": "sl", "take_profit": "tp",
                "close_all": "ca", "drawdown": "dd", "stop": "st",
                # By hand (trading.services.manual): at most one of each per candle.
                "manual_entry": "me", "manual_exit": "mx"}


def client_order_id_for(bot_id: int, candle_ts: int, action: str) -> str:
    """The deterministic client order id of `action` decided on `candle_ts` (<= 36 chars)."""
    return f"ait-{bot_id}-{candle_ts}-{ACTION_CODES.get(action, action[:4])}"


def order_intent_create(*, bot: Bot, candle_ts: int, action: str, side: str, amount: Decimal,
                        price: Decimal | None = None, order_type: str = Order.Type.MARKET,
                        stop_price: Decimal | None = None,
                        expected_price: Decimal | None = None) -> tuple[Order, bool]:
    """Commit the intent of an order; returns (order, created). An existing intent wins.

    A protective market exit passes the stop/target level that was touched as `stop_price`
    and the candle it was checked against as `candle_ts` (the paper exchange fills it there).
    A market order passes the price it expects (`expected_price`, its decision candle's
    close) so the pre-send checks can value it against the market's minimum.
    """
    return _intent_create(bot, client_order_id_for(bot.pk, candle_ts, action),
                          candle_ts=candle_ts, side=side, type=order_type, amount=amount,
                          price=price, reason=action, stop_price=stop_price,
                          expected_price=expected_price)


def stop_series(bot_id: int, entry_candle_ts: int) -> str:
    """The client id prefix of the resting stops protecting the entry of `entry_candle_ts`."""
    return client_order_id_for(bot_id, entry_candle_ts, "stop")


def stop_client_order_id(bot_id: int, entry_candle_ts: int, attempt: int) -> str:
    """The client order id of a resting stop: one series per entry (the position it protects),
    numbered so a stop replaced for the same entry (a partial exit, a changed stop loss, a
    stop canceled at the exchange) gets a new id. At most 36 characters."""
    return f"{stop_series(bot_id, entry_candle_ts)}{attempt}"


def order_stop_intent_create(*, bot: Bot, candle_ts: int, entry_candle_ts: int, attempt: int,
                             amount: Decimal, stop_price: Decimal, price: Decimal
                             ) -> tuple[Order, bool]:
    """Commit the intent of a resting stop-loss-limit sell that protects the position opened
    (or last added to) on `entry_candle_ts`; returns (order, created). Its fills close the
    trade as a stop loss."""
    return _intent_create(bot, stop_client_order_id(bot.pk, entry_candle_ts, attempt),
                          candle_ts=candle_ts, side="sell", type=Order.Type.STOP_LIMIT,
                          amount=amount, price=price, stop_price=stop_price,
                          reason="stop_loss")


def _intent_create(bot: Bot, client_order_id: str, **fields) -> tuple[Order, bool]:
    existing = selectors.order_get_by_client_id(tenant=bot.tenant_id,
                                                client_order_id=client_order_id)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            order = Order.objects.create(
                tenant_id=bot.tenant_id, bot=bot, account_id=bot.account_id,
                client_order_id=client_order_id, symbol=bot.symbol, **fields)
    except IntegrityError:  # a concurrent attempt committed the same intent first
        return selectors.order_get_by_client_id(tenant=bot.tenant_id,
                                                client_order_id=client_order_id), False
    publish_on_commit(bot.tenant_id, "order", bot.pk, _order_event(order))
    return order, True


def order_submit(*, bot: Bot, order: Order, exchange: Exchange,
                 newest_candle_ts: int | None = None, now: datetime | None = None) -> Order:
    """Send a committed intent once. A lost answer leaves it UNKNOWN for `order_sync`.

    Nothing is sent late or sent to be refused: an intent older than its bound (see
    `_intent_expiry`; `newest_candle_ts` is the newest closed candle the caller sees) is
    expired, and an order below the market's limits (trading.exchanges.limits) is skipped,
    each with a Thought that says why.
    """
    if order.status != Order.Status.INTENT:
        return order
    late = _intent_expiry(bot, order, newest_candle_ts, now or timezone.now())
    if late is not None:
        return _not_sent(bot, order, Order.Status.EXPIRED, late)
    try:
        live_order_guard(bot=bot, order=order, exchange=exchange)
    except LiveOrderRefused as exc:  # refused before anything reaches the exchange
        return _mark(order, Order.Status.REJECTED, exc.message, alert=False)  # guard alerted
    request = OrderRequest(symbol=order.symbol, side=order.side, type=order.type,
                           amount=order.amount,
                           price=order.price if order.price is not None else order.expected_price,
                           client_order_id=order.client_order_id, stop_price=order.stop_price)
    refusal = _limits_refusal(exchange, request)
    if refusal is not None:
        return _not_sent(bot, order, Order.Status.SKIPPED, f"Order skipped: {refusal}.")
    Order.objects.for_tenant(order.tenant_id).filter(pk=order.pk).update(sent_at=timezone.now())
    try:
        state = exchange.create_order(request)
    except DuplicateClientOrderId:
        return order_sync(bot=bot, order=order, exchange=exchange)
    except TemporaryExchangeError as exc:
        return _mark(order, Order.Status.UNKNOWN, f"answer lost: {exc}")
    except PermanentExchangeError as exc:
        return _mark(order, Order.Status.REJECTED, str(exc))
    return _apply_state(bot, order, state, exchange)


def order_sync(*, bot: Bot, order: Order, exchange: Exchange,
               newest_candle_ts: int | None = None, now: datetime | None = None) -> Order:
    """Bring a pending order up to date with the exchange, looking it up by client id.

    An intent (or lost answer) the exchange has never seen is sent now: it is the only case
    where sending again is safe, because the exchange just said it holds no such order. It is
    still an intent, so past its bound it expires instead (see `order_submit`).
    """
    try:
        state = exchange.fetch_order(order.symbol, client_order_id=order.client_order_id)
    except OrderNotFound:
        if order.status == Order.Status.OPEN:
            return _mark(order, Order.Status.EXPIRED, "the exchange no longer knows this order")
        _reset_to_intent(order)
        return order_submit(bot=bot, order=order, exchange=exchange,
                            newest_candle_ts=newest_candle_ts, now=now)
    return _apply_state(bot, order, state, exchange)


def order_resolve(*, bot: Bot, order: Order, exchange: Exchange) -> Order:
    """Settle an order whose answer was lost without ever sending anything (reconciliation).

    The exchange's record, found by client id, is applied. An order the exchange does not
    know is left to the bot's next tick while it is within its bound (the tick sends it),
    and expired past it (it was never placed, and is not sent late)."""
    try:
        state = exchange.fetch_order(order.symbol, client_order_id=order.client_order_id)
    except OrderNotFound:
        late = _intent_expiry(bot, order, None, timezone.now())
        return order if late is None else _not_sent(bot, order, Order.Status.EXPIRED, late)
    return _apply_state(bot, order, state, exchange)


def _intent_expiry(bot: Bot, order: Order, newest_candle_ts: int | None,
                   now: datetime) -> str | None:
    """Why `order` is too old to send, or None.

    The bound is AITRADER_ORDER_INTENT_TTL_CANDLES candles of the bot's timeframe after the
    decision candle: by the market's clock (how many candles closed since, as the caller
    sees them) and by the wall clock (how long ago the intent was committed), whichever
    runs first. A market order sent later would trade on a market its decision never saw.
    """
    ttl = settings.AITRADER_ORDER_INTENT_TTL_CANDLES
    candle_ms = timeframe_ms(bot.timeframe)
    if newest_candle_ts is not None and newest_candle_ts >= order.candle_ts + ttl * candle_ms:
        closed = (newest_candle_ts - order.candle_ts) // candle_ms
        return (f"Order intent {order.client_order_id} expired: {closed} candle"
                f"{'s' if closed != 1 else ''} closed after its decision candle before it "
                f"could be sent (the bound is {ttl}); canceled, never sent late.")
    age = now - order.created_at
    if age >= timedelta(milliseconds=ttl * candle_ms):
        return (f"Order intent {order.client_order_id} expired: not sent within "
                f"{int(age.total_seconds())} s of its decision (the bound is {ttl} candle"
                f"{'s' if ttl != 1 else ''}); canceled, never sent late.")
    return None


def _limits_refusal(exchange: Exchange, request: OrderRequest) -> str | None:
    """Why the market would refuse `request` (lot size, minimum amount or value), or None.

    When the market's rules cannot be read (a live exchange that is down), the adapter's own
    check at sending still stands, so the order goes on to it."""
    try:
        rules = exchange.market_rules(request.symbol)
    except ExchangeError as exc:
        logger.warning("no market rules for %s: %s", request.symbol, exc)
        return None
    return order_limits_refusal(rules, amount=request.amount, price=request.price)


def _not_sent(bot: Bot, order: Order, status: str, why: str) -> Order:
    """Finish an order that was never sent (expired, skipped): no alert, no exchange error,
    a Thought that says why."""
    _mark(order, status, why, alert=False)
    thought_record(bot=bot, kind=Thought.Kind.ORDER, summary=why, candle_ts=order.candle_ts,
                   data={"order": {"client_order_id": order.client_order_id,
                                   "status": status, "side": order.side,
                                   "amount": str(order.amount)}})
    return order


def _reset_to_intent(order: Order) -> None:
    if order.status != Order.Status.INTENT:
        Order.objects.for_tenant(order.tenant_id).filter(pk=order.pk).update(
            status=Order.Status.INTENT)
        order.status = Order.Status.INTENT


def _apply_state(bot: Bot, order: Order, state: OrderState, exchange: Exchange) -> Order:
    if state.filled > order.filled or state.is_final:
        # A sell that leaves less than the lot size ends the round trip (dust stays held).
        step = exchange.amount_step(order.symbol) if order.side == "sell" else Decimal(0)
        for fill in _fills_of(exchange, order, state):
            fill_record(bot=bot, order=order, fill=fill, amount_step=step)
    order.exchange_order_id = state.exchange_order_id
    order.status = state.status
    order.filled = state.filled
    order.average = state.average
    if state.fee:
        order.fee, order.fee_currency = state.fee, state.fee_currency or ""
    order.error = ""
    order.save(update_fields=["exchange_order_id", "status", "filled", "average", "fee",
                              "fee_currency", "error", "updated_at"])
    publish_on_commit(bot.tenant_id, "order", bot.pk, _order_event(order))
    return order


def _fills_of(exchange: Exchange, order: Order, state: OrderState) -> list:
    """The order's executions; recording them is idempotent, so re-reading is harmless."""
    return exchange.fetch_order_trades(order.symbol, state)


def _mark(order: Order, status: str, error: str, *, alert: bool = True) -> Order:
    order.status, order.error = status, error[:300]
    order.save(update_fields=["status", "error", "updated_at"])
    publish_on_commit(order.tenant_id, "order", order.bot_id, _order_event(order))
    if status == Order.Status.REJECTED:
        logger.warning("order %s rejected: %s", order.client_order_id, order.error)
    if status == Order.Status.REJECTED and alert:
        transaction.on_commit(lambda: order_failed.send(
            sender=Order, tenant_id=order.tenant_id, bot_id=order.bot_id, order_id=order.pk,
            error=order.error, side=order.side))
    return order


def order_cancel(*, bot: Bot, order: Order, exchange: Exchange) -> Order:
    """Cancel an open order at the exchange and record its final state."""
    if order.status == Order.Status.INTENT:
        return _mark(order, Order.Status.CANCELED, "canceled before it was sent")
    if not order.exchange_order_id:
        order = order_sync(bot=bot, order=order, exchange=exchange)
        if not order.is_pending:
            return order
    try:
        state = exchange.cancel_order(order.symbol, order.exchange_order_id)
    except OrderNotFound:
        return order_sync(bot=bot, order=order, exchange=exchange)
    return _apply_state(bot, order, state, exchange)


def order_paper_accept(*, order: Order, candle_ts: int) -> None:
    """The paper exchange takes `order` into its book: record the newest closed candle at that
    moment, from which its fills are computed (see trading.exchanges.paper). The first
    acceptance wins, so sending the same order again never moves it."""
    if order.sent_candle_ts is not None:
        return
    if Order.objects.for_tenant(order.tenant_id).filter(
            pk=order.pk, sent_candle_ts__isnull=True).update(
            sent_candle_ts=candle_ts):
        order.sent_candle_ts = candle_ts
    else:
        order.refresh_from_db(fields=["sent_candle_ts"])


def _order_event(order: Order) -> dict:
    return {"id": order.pk, "client_order_id": order.client_order_id, "side": order.side,
            "type": order.type, "amount": str(order.amount), "status": order.status,
            "filled": str(order.filled), "reason": order.reason,
            "average": str(order.average) if order.average is not None else None}
