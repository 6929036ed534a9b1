"""The ledger: fills in, positions, round-trip trades and paper balances out.

Every fill is recorded once (unique per account and exchange trade id), and the position is
advanced only by fills that were new, so a fill reported twice, by a retry, a restarted
worker or reconciliation, changes nothing the second time: position = sum of unique fills.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from dashboard.events import publish_on_commit
from trading import selectors
from trading.exchanges.base import TradeFill
from trading.models import ZERO, Bot, Fill, Order, PaperBalance, Position, Trade, TradingMode


@dataclass(frozen=True)
class FillOutcome:
    fill: Fill
    trade: Trade | None


def _time(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


def _quote_cost(fill: TradeFill, quote: str) -> Decimal:
    """The fee in quote currency (fees charged in base are converted at the fill price)."""
    if fill.fee_currency in (None, "", quote):
        return fill.fee
    return fill.fee * fill.price


@transaction.atomic
def fill_record(*, bot: Bot, order: Order, fill: TradeFill) -> FillOutcome | None:
    """Record one exchange fill; None when it was already recorded (duplicates are no-ops)."""
    try:
        with transaction.atomic():
            row = Fill.objects.create(
                tenant_id=bot.tenant_id, order=order, bot=bot, account_id=order.account_id,
                trade_id=fill.trade_id, symbol=fill.symbol, side=fill.side,
                amount=fill.amount, price=fill.price, fee=fill.fee,
                fee_currency=fill.fee_currency or "", timestamp_ms=fill.timestamp_ms)
    except IntegrityError:
        return None
    fee = _quote_cost(fill, bot.quote_currency)
    trade = _advance_position(bot, order, fill, fee)
    if bot.account.mode == TradingMode.PAPER:
        _move_paper_balances(bot, fill, fee)
    publish_on_commit(bot.tenant_id, "fill", bot.pk, {
        "order": order.client_order_id, "side": fill.side, "amount": str(fill.amount),
        "price": str(fill.price), "fee": str(fill.fee)})
    return FillOutcome(row, trade)


def _locked_position(bot: Bot) -> Position:
    position, _ = Position.objects.select_for_update().get_or_create(
        tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol)
    return position


def _advance_position(bot: Bot, order: Order, fill: TradeFill, fee: Decimal) -> Trade | None:
    position = _locked_position(bot)
    if fill.side == "buy":
        return _add_to_position(bot, position, fill, fee)
    return _reduce_position(bot, position, order, fill, fee)


def _add_to_position(bot: Bot, position: Position, fill: TradeFill, fee: Decimal) -> Trade:
    new_amount = position.amount + fill.amount
    position.average_price = ((position.amount * position.average_price
                               + fill.amount * fill.price) / new_amount)
    if position.amount == 0:
        position.opened_at = _time(fill.timestamp_ms)
        position.entries = 0
    position.entries += 1
    position.amount = new_amount
    position.save()
    _add_realized(bot, -fee)  # the entry fee is a cost the moment it is paid
    trade = selectors.trade_open_for_bot(bot=bot)
    if trade is None:
        trade = Trade.objects.create(
            tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol, amount=fill.amount,
            entry_price=fill.price, entry_time=_time(fill.timestamp_ms), fees=fee)
        publish_on_commit(bot.tenant_id, "trade", bot.pk, _trade_event(trade))
        return trade
    trade.amount = position.amount
    trade.entry_price = position.average_price
    trade.fees += fee
    trade.save(update_fields=["amount", "entry_price", "fees"])
    return trade


def _reduce_position(bot: Bot, position: Position, order: Order, fill: TradeFill,
                     fee: Decimal) -> Trade | None:
    sold = min(fill.amount, position.amount)
    realized = (fill.price - position.average_price) * sold - fee
    position.amount -= sold
    position.save()
    _add_realized(bot, realized)
    trade = selectors.trade_open_for_bot(bot=bot)
    if trade is None:
        return None
    previous = trade.closed_amount
    trade.closed_amount = previous + sold
    trade.exit_price = ((trade.exit_price or ZERO) * previous + fill.price * sold) / \
        trade.closed_amount
    trade.fees += fee
    if position.amount == 0:
        _close_trade(trade, order, fill)
    trade.save()
    return trade


def _add_realized(bot: Bot, amount: Decimal) -> None:
    Bot.objects.filter(pk=bot.pk).update(realized_pnl=F("realized_pnl") + amount)


def _close_trade(trade: Trade, order: Order, fill: TradeFill) -> None:
    trade.status = Trade.Status.CLOSED
    trade.exit_time = _time(fill.timestamp_ms)
    trade.exit_reason = order.reason or "exit"
    trade.pnl = (trade.exit_price - trade.entry_price) * trade.closed_amount - trade.fees
    cost = trade.entry_price * trade.closed_amount
    trade.pnl_pct = (trade.pnl / cost * 100) if cost else ZERO
    publish_on_commit(trade.tenant_id, "trade", trade.bot_id, _trade_event(trade))


def _trade_event(trade: Trade) -> dict:
    return {"id": trade.pk, "status": trade.status, "symbol": trade.symbol,
            "amount": str(trade.amount), "entry_price": str(trade.entry_price),
            "exit_price": str(trade.exit_price) if trade.exit_price is not None else None,
            "pnl": str(trade.pnl) if trade.pnl is not None else None,
            "exit_reason": trade.exit_reason}


def _move_paper_balances(bot: Bot, fill: TradeFill, fee: Decimal) -> None:
    notional = fill.amount * fill.price
    quote_delta = -(notional + fee) if fill.side == "buy" else notional - fee
    base_delta = fill.amount if fill.side == "buy" else -fill.amount
    for currency, delta in ((bot.quote_currency, quote_delta), (bot.base_currency, base_delta)):
        balance, _ = PaperBalance.objects.get_or_create(
            tenant_id=bot.tenant_id, account_id=bot.account_id, currency=currency)
        PaperBalance.objects.filter(pk=balance.pk).update(free=F("free") + delta)
