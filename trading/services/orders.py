"""Idempotent order placement and order synchronisation.

The order's intent is committed under a deterministic client order id (bot, candle, action)
before anything is sent. Whatever happens next, a crash, a lost answer or a retried task, the
next attempt finds the row by that id and asks the exchange about it by the same id instead
of sending again; the unique constraint makes a second row impossible.
"""
from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.events import publish_on_commit
from trading import selectors
from trading.exchanges.base import (
    DuplicateClientOrderId,
    Exchange,
    OrderNotFound,
    OrderRequest,
    OrderState,
    PermanentExchangeError,
    TemporaryExchangeError,
)
from trading.models import Bot, Order
from trading.services.guards import LiveOrderRefused, live_order_guard
from trading.services.ledger import fill_record
from trading.signals import order_failed

logger = logging.getLogger(__name__)

ACTION_CODES = {"entry": "en", "exit": "ex", "stop_loss": "sl", "take_profit": "tp",
                "close_all": "ca", "drawdown": "dd"}


def client_order_id_for(bot_id: int, candle_ts: int, action: str) -> str:
    """The deterministic client order id of `action` decided on `candle_ts` (<= 36 chars)."""
    return f"ait-{bot_id}-{candle_ts}-{ACTION_CODES.get(action, action[:4])}"


def order_intent_create(*, bot: Bot, candle_ts: int, action: str, side: str, amount: Decimal,
                        price: Decimal | None = None, order_type: str = Order.Type.MARKET
                        ) -> tuple[Order, bool]:
    """Commit the intent of an order; returns (order, created). An existing intent wins."""
    client_order_id = client_order_id_for(bot.pk, candle_ts, action)
    existing = selectors.order_get_by_client_id(tenant=bot.tenant_id,
                                                client_order_id=client_order_id)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            order = Order.objects.create(
                tenant_id=bot.tenant_id, bot=bot, account_id=bot.account_id,
                client_order_id=client_order_id, symbol=bot.symbol, side=side, type=order_type,
                amount=amount, price=price, reason=action, candle_ts=candle_ts)
    except IntegrityError:  # a concurrent attempt committed the same intent first
        return selectors.order_get_by_client_id(tenant=bot.tenant_id,
                                                client_order_id=client_order_id), False
    publish_on_commit(bot.tenant_id, "order", bot.pk, _order_event(order))
    return order, True


def order_submit(*, bot: Bot, order: Order, exchange: Exchange) -> Order:
    """Send a committed intent once. A lost answer leaves it UNKNOWN for `order_sync`."""
    if order.status != Order.Status.INTENT:
        return order
    try:
        live_order_guard(bot=bot, order=order, exchange=exchange)
    except LiveOrderRefused as exc:  # refused before anything reaches the exchange
        return _mark(order, Order.Status.REJECTED, exc.message, alert=False)  # guard alerted
    request = OrderRequest(symbol=order.symbol, side=order.side, type=order.type,
                           amount=order.amount, price=order.price,
                           client_order_id=order.client_order_id)
    Order.objects.filter(pk=order.pk).update(sent_at=timezone.now())
    try:
        state = exchange.create_order(request)
    except DuplicateClientOrderId:
        return order_sync(bot=bot, order=order, exchange=exchange)
    except TemporaryExchangeError as exc:
        return _mark(order, Order.Status.UNKNOWN, f"answer lost: {exc}")
    except PermanentExchangeError as exc:
        return _mark(order, Order.Status.REJECTED, str(exc))
    return _apply_state(bot, order, state, exchange)


def order_sync(*, bot: Bot, order: Order, exchange: Exchange) -> Order:
    """Bring a pending order up to date with the exchange, looking it up by client id.

    An intent (or lost answer) the exchange has never seen is sent now: it is the only case
    where sending again is safe, because the exchange just said it holds no such order.
    """
    try:
        state = exchange.fetch_order(order.symbol, client_order_id=order.client_order_id)
    except OrderNotFound:
        if order.status == Order.Status.OPEN:
            return _mark(order, Order.Status.EXPIRED, "the exchange no longer knows this order")
        _reset_to_intent(order)
        return order_submit(bot=bot, order=order, exchange=exchange)
    return _apply_state(bot, order, state, exchange)


def _reset_to_intent(order: Order) -> None:
    if order.status != Order.Status.INTENT:
        Order.objects.filter(pk=order.pk).update(status=Order.Status.INTENT)
        order.status = Order.Status.INTENT


def _apply_state(bot: Bot, order: Order, state: OrderState, exchange: Exchange) -> Order:
    if state.filled > order.filled or state.is_final:
        for fill in _fills_of(exchange, order, state):
            fill_record(bot=bot, order=order, fill=fill)
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


def _order_event(order: Order) -> dict:
    return {"id": order.pk, "client_order_id": order.client_order_id, "side": order.side,
            "type": order.type, "amount": str(order.amount), "status": order.status,
            "filled": str(order.filled), "reason": order.reason,
            "average": str(order.average) if order.average is not None else None}
