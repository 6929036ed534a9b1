"""The ledger: fills in, positions, round-trip trades and paper balances out.

Every fill is recorded once (unique per account and exchange trade id), and the position is
advanced only by fills that were new, so a fill reported twice, by a retry, a restarted
worker or reconciliation, changes nothing the second time: position = sum of unique fills,
less the fees charged in the base currency.

Fees, by the currency the exchange charged them in:

- the quote currency (USDT on BTC/USDT): a cost, as is;
- the base currency (Binance takes a buy's fee from the coins bought unless BNB pays it): the
  coins come off the position, so the ledger holds what the exchange holds; their value at
  the fill price is the fee's cost in P&L (the coins held are valued at that price, so the
  cost is counted once);
- a third currency (BNB): the position is untouched. There is no price of BNB to the quote
  here, so the fee is recorded in its own currency (`Fill.fee_quote` empty,
  `Trade.unpriced_fees`) and left out of P&L rather than valued at a made-up price.

So a round trip's P&L is what the sells brought in, less what the buys cost, less the
fees priced in the quote: exactly the quote the account gained or lost.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from tenants.events import publish_on_commit
from trading import selectors
from trading.exchanges.base import TradeFill, round_down_to_step
from trading.fields import MoneyAdd, MoneySubtract, MoneySum
from trading.models import ZERO, Bot, Fill, Order, PaperBalance, Position, Trade, TradingMode


@dataclass(frozen=True)
class FillOutcome:
    fill: Fill
    trade: Trade | None


def _time(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class FillFee:
    """One fill's fee and where it falls: `base` is taken off the coins held, `value` is
    its cost in the quote currency (None when it has no price there), `currency` is what
    the exchange charged."""

    amount: Decimal
    currency: str
    base: Decimal
    value: Decimal | None


def _fee_of(fill: TradeFill, bot: Bot) -> FillFee:
    """Split a fill's fee by its currency; a fee that names none is in the quote currency
    (as the paper exchange and most venues charge it)."""
    currency = (fill.fee_currency or bot.quote_currency).upper()
    if currency == bot.quote_currency:
        return FillFee(fill.fee, currency, base=ZERO, value=fill.fee)
    if currency == bot.base_currency:
        return FillFee(fill.fee, currency, base=fill.fee, value=fill.fee * fill.price)
    return FillFee(fill.fee, currency, base=ZERO, value=None)


@transaction.atomic
def fill_record(*, bot: Bot, order: Order, fill: TradeFill,
                amount_step: Decimal = ZERO) -> FillOutcome | None:
    """Record one exchange fill; None when it was already recorded (duplicates are no-ops).

    `amount_step` is the exchange's lot size: a sell that leaves less than one step closes
    the round trip, and the dust stays in the position (the exchange still holds it, and it
    is sold with the next exit once it adds up to a step).
    """
    fee = _fee_of(fill, bot)
    try:
        with transaction.atomic():
            row = Fill.objects.create(
                tenant_id=bot.tenant_id, order=order, bot=bot, account_id=order.account_id,
                trade_id=fill.trade_id, symbol=fill.symbol, side=fill.side,
                amount=fill.amount, price=fill.price, fee=fill.fee,
                fee_currency=fill.fee_currency or "", fee_quote=fee.value,
                timestamp_ms=fill.timestamp_ms)
    except IntegrityError:
        return None
    trade = _advance_position(bot, order, fill, fee, amount_step)
    if bot.account.mode == TradingMode.PAPER:
        _move_paper_balances(bot, fill, fee)
    publish_on_commit(bot.tenant_id, "fill", bot.pk, {
        "order": order.client_order_id, "side": fill.side, "amount": str(fill.amount),
        "price": str(fill.price), "fee": str(fill.fee), "fee_currency": fee.currency})
    return FillOutcome(row, trade)


def position_exit_amount(*, bot: Bot, step: Decimal) -> Decimal:
    """What an exit of `bot` may sell now: its position by the ledger (base-currency fees
    already off), less what its working sells still offer, rounded down to the exchange's
    lot `step`. 0 when only dust is left."""
    position = selectors.position_for_bot(bot=bot)
    held = position.amount if position is not None else ZERO
    offered = selectors.order_pending_for_bot(bot=bot).filter(side="sell").aggregate(
        rest=MoneySum(MoneySubtract(F("amount"), F("filled"))))["rest"] or ZERO
    return round_down_to_step(held - offered, step)


def _locked_position(bot: Bot) -> Position:
    position, _ = Position.objects.for_tenant(bot.tenant_id).select_for_update().get_or_create(
        tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol)
    return position


def _advance_position(bot: Bot, order: Order, fill: TradeFill, fee: FillFee,
                      amount_step: Decimal) -> Trade | None:
    position = _locked_position(bot)
    if fill.side == "buy":
        return _add_to_position(bot, position, fill, fee)
    return _reduce_position(bot, position, order, fill, fee, amount_step)


def _add_to_position(bot: Bot, position: Position, fill: TradeFill, fee: FillFee) -> Trade:
    received = fill.amount - fee.base  # Binance delivers the coins bought less its fee
    new_amount = position.amount + received
    if new_amount > 0:
        position.average_price = ((position.amount * position.average_price
                                   + received * fill.price) / new_amount)
    if position.amount == 0 or position.entries == 0:  # a new round trip (maybe over dust)
        position.opened_at = _time(fill.timestamp_ms)
        position.entries = 0
    position.entries += 1
    position.amount = new_amount
    position.save()
    cost = fee.value or ZERO
    _add_realized(bot, -cost)  # the entry fee is a cost the moment it is paid
    trade = selectors.trade_open_for_bot(bot=bot)
    if trade is None:
        # Dust left by the last exit joins this round trip, at its cost, and is sold with it.
        trade = Trade.objects.create(
            tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol, amount=position.amount,
            entry_price=position.average_price, entry_time=_time(fill.timestamp_ms),
            fees=cost, unpriced_fees=_with_unpriced({}, fee))
        publish_on_commit(bot.tenant_id, "trade", bot.pk, _trade_event(trade))
        return trade
    trade.amount = position.amount
    trade.entry_price = position.average_price
    trade.fees += cost
    trade.unpriced_fees = _with_unpriced(trade.unpriced_fees, fee)
    trade.save(update_fields=["amount", "entry_price", "fees", "unpriced_fees"])
    return trade


def _reduce_position(bot: Bot, position: Position, order: Order, fill: TradeFill,
                     fee: FillFee, amount_step: Decimal) -> Trade | None:
    # A fee in the base currency leaves the account with the coins sold.
    gone = min(fill.amount + fee.base, position.amount)
    realized = (fill.price - position.average_price) * gone - (fee.value or ZERO)
    position.amount -= gone
    closes = position.amount == 0 or position.amount < amount_step
    if closes:
        position.entries = 0  # what is left is dust the exchange will not take
    position.save()
    _add_realized(bot, realized)
    trade = selectors.trade_open_for_bot(bot=bot)
    if trade is None:
        return None
    previous = trade.closed_amount
    trade.closed_amount = previous + gone
    trade.exit_price = ((trade.exit_price or ZERO) * previous + fill.price * gone) / \
        trade.closed_amount
    trade.fees += fee.value or ZERO
    trade.unpriced_fees = _with_unpriced(trade.unpriced_fees, fee)
    if closes:
        _close_trade(trade, order, fill)
    trade.save()
    return trade


def _with_unpriced(unpriced: dict, fee: FillFee) -> dict:
    """`unpriced` ({currency: amount as text}) with `fee` added when it has no quote price."""
    if fee.value is not None or not fee.amount:
        return unpriced
    total = Decimal(unpriced.get(fee.currency, "0")) + fee.amount
    return {**unpriced, fee.currency: f"{total.normalize():f}"}


def _add_realized(bot: Bot, amount: Decimal) -> None:
    Bot.objects.for_tenant(bot.tenant_id).filter(pk=bot.pk).update(
        realized_pnl=MoneyAdd(F("realized_pnl"), amount))


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


def _move_paper_balances(bot: Bot, fill: TradeFill, fee: FillFee) -> None:
    """Simulated balances move as an exchange's would: the notional between base and quote,
    and the fee out of the currency it was charged in."""
    notional = fill.amount * fill.price
    buying = fill.side == "buy"
    deltas: dict[str, Decimal] = defaultdict(Decimal)
    deltas[bot.quote_currency] += -notional if buying else notional
    deltas[bot.base_currency] += fill.amount if buying else -fill.amount
    deltas[fee.currency] -= fee.amount
    for currency, delta in deltas.items():
        balances = PaperBalance.objects.for_tenant(bot.tenant_id)
        balance, _ = balances.get_or_create(
            tenant_id=bot.tenant_id, account_id=bot.account_id, currency=currency)
        balances.filter(pk=balance.pk).update(free=MoneyAdd(F("free"), delta))
