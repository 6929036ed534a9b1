"""The paper exchange: real or replayed prices, simulated fills, balances in the database.

The order book of a paper account is our own Order table; fills are computed from the
candles that follow the order's decision candle (trading.exchanges.paper_fills holds the
rules), deterministically, so asking twice gives the same fills with the same trade ids and
the ledger records them once.

Nothing fills at a price from before the order reached the paper exchange: accepting an
order records the newest closed candle (`Order.sent_candle_ts`), and the order fills only on
candles after it, so an intent sent late (after an outage) fills at the newest price, never
at the open that followed its decision candle. A protective exit (a market sell carrying the
stop or target level that was touched, `stop_price`) fills on the candle it was checked
against, at that level, when that candle is the newest closed one or the one forming.
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np

from trading import selectors
from trading.core.candles import Candles
from trading.exchanges import paper_fills
from trading.exchanges.base import (
    LEDGER_AMOUNT_STEP,
    Balance,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRequest,
    OrderState,
    Ticker,
    TradeFill,
)
from trading.exchanges.limits import MarketRules, known_market_rules
from trading.models import ExchangeAccount, Order
from trading.services.orders import order_paper_accept

CandleSource = Callable[[str], Candles]


class PaperExchange:
    """Exchange interface over one paper account; `closed_candles(symbol)` supplies prices."""

    def __init__(self, account: ExchangeAccount, closed_candles: CandleSource) -> None:
        self.account = account
        self.closed_candles = closed_candles
        self.config = paper_fills.FillConfig(
            slippage=account.slippage, maker_fee=account.maker_fee, taker_fee=account.taker_fee)

    # --- market data -----------------------------------------------------------------
    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                    limit: int | None = None) -> list[list]:
        rows = self.closed_candles(symbol).to_rows()
        return rows[-limit:] if limit else rows

    def fetch_ticker(self, symbol: str) -> Ticker:
        candles = self.closed_candles(symbol)
        last = Decimal(repr(float(candles.close[-1]))) if len(candles) else None
        stamp = int(candles.timestamp[-1]) if len(candles) else None
        return Ticker(symbol=symbol, last=last, bid=last, ask=last, timestamp_ms=stamp)

    # --- orders ----------------------------------------------------------------------
    def create_order(self, request: OrderRequest) -> OrderState:
        """Accept the order after checking simulated funds; it fills on later candles (a
        protective exit may fill at once, on the candle it was checked against)."""
        if request.type == "stop_limit":  # the platform watches a paper bot's stop itself
            raise InvalidOrder("paper accounts do not rest stop orders")
        self._check_funds(request)
        order = self._order(request.client_order_id)
        candles = self.closed_candles(order.symbol)
        order_paper_accept(order=order, candle_ts=int(candles.timestamp[-1]) if len(candles)
                           else order.candle_ts)
        return self._state(order, self._fills(order))

    def fetch_order(self, symbol: str, *, exchange_order_id: str | None = None,
                    client_order_id: str | None = None) -> OrderState:
        client_id = client_order_id or (exchange_order_id or "").removeprefix("paper-")
        order = self._order(client_id)
        if _accepted_at(order) is None:
            raise OrderNotFound(f"paper order {client_id} was never placed")
        return self._state(order, self._executions(order))

    def cancel_order(self, symbol: str, exchange_order_id: str) -> OrderState:
        order = self._order(exchange_order_id.removeprefix("paper-"))
        fills = self._executions(order)
        state = self._state(order, fills)
        if state.is_final:
            return state
        return OrderState(**{**state.__dict__, "status": "canceled"})

    def fetch_order_trades(self, symbol: str, state: OrderState) -> list[TradeFill]:
        """The simulated executions of one order."""
        return self._executions(self._order(state.client_order_id or ""))

    def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[TradeFill]:
        fills: list[TradeFill] = []
        for order in selectors.order_list(tenant=self.account.tenant_id).filter(
                account=self.account, symbol=symbol, candle_ts__gte=since_ms or 0):
            fills.extend(self._executions(order))
        return sorted(fills, key=lambda f: f.timestamp_ms)

    def fetch_open_orders(self, symbol: str) -> list[OrderState]:
        orders = selectors.order_list(tenant=self.account.tenant_id).filter(
            account=self.account, symbol=symbol, status=Order.Status.OPEN)
        return [state for state in (self._state(o, self._executions(o)) for o in orders)
                if not state.is_final]

    def fetch_balance(self) -> dict[str, Balance]:
        return {currency: Balance(currency, row.free, row.used, row.free + row.used)
                for currency, row in selectors.paper_balances(account=self.account).items()}

    def amount_step(self, symbol: str) -> Decimal:
        """Paper has no lot size: any amount to the ledger's resolution fills."""
        return LEDGER_AMOUNT_STEP

    def market_rules(self, symbol: str) -> MarketRules:
        """The real market's rules where this process loaded them, else Binance-like ones."""
        return known_market_rules(self.account.exchange_id, symbol)

    def close(self) -> None:
        """Nothing to release: the paper exchange holds no connections."""

    # --- simulation --------------------------------------------------------------------
    def _order(self, client_order_id: str) -> Order:
        order = selectors.order_get_by_client_id(tenant=self.account.tenant_id,
                                                 client_order_id=client_order_id)
        if order is None or order.account_id != self.account.pk:
            raise OrderNotFound(f"no paper order {client_order_id}")
        return order

    def _check_funds(self, request: OrderRequest) -> None:
        balances = selectors.paper_balances(account=self.account)
        base, quote = request.symbol.split("/")
        if request.side == "sell":
            held = balances[base].free if base in balances else Decimal(0)
            if held < request.amount:
                raise InsufficientFunds(f"paper account holds {held} {base}, "
                                        f"the order sells {request.amount}")
            return
        price = request.price or self.fetch_ticker(request.symbol).last
        if price is None:
            raise InvalidOrder("no price yet for this market")
        needed = request.amount * price * (1 + self.config.taker_fee) * (1 + self.config.slippage)
        available = balances[quote].free if quote in balances else Decimal(0)
        if available < needed:
            raise InsufficientFunds(f"paper account holds {available:.2f} {quote}, "
                                    f"the order needs about {needed:.2f}")

    def _executions(self, order: Order) -> list[TradeFill]:
        """What `order` executed. A canceled order stopped filling when it was canceled: its
        executions are the fills booked then, not what later candles would have given it."""
        if order.status != Order.Status.CANCELED:
            return self._fills(order)
        return [TradeFill(trade_id=fill.trade_id,
                          exchange_order_id=f"paper-{order.client_order_id}",
                          client_order_id=order.client_order_id, symbol=fill.symbol,
                          side=fill.side, amount=fill.amount, price=fill.price, fee=fill.fee,
                          fee_currency=fill.fee_currency or None,
                          timestamp_ms=fill.timestamp_ms)
                for fill in order.fills.order_by("timestamp_ms", "pk")]

    def _fills(self, order: Order) -> list[TradeFill]:
        candles = self.closed_candles(order.symbol)
        start, at_trigger = _fill_start(order, candles.timestamp)
        fills, remaining = [], order.amount
        for position, index in enumerate(range(start, len(candles))):
            if remaining <= 0:
                break
            row = [candles.timestamp[index], candles.open[index], candles.high[index],
                   candles.low[index], candles.close[index], candles.volume[index]]
            bar = paper_fills.Bar.from_row(row)
            if position == 0 and at_trigger:
                result = paper_fills.simulate_trigger_fill(
                    side=order.side, amount=remaining, trigger_price=order.stop_price,
                    kind=_trigger_kind(order), bar=bar, config=self.config)
            else:  # an untouched trigger candle leaves a plain market exit on the next open
                result = paper_fills.simulate_fill(
                    side=order.side, type=order.type, amount=remaining,
                    limit_price=order.price, bar=bar, config=self.config, resting=position > 0)
            if result.filled > 0:
                fills.append(self._trade_fill(order, len(fills) + 1, result, int(row[0])))
                remaining -= result.filled
        return fills

    def _trade_fill(self, order: Order, number: int, result: paper_fills.SimulatedFill,
                    timestamp_ms: int) -> TradeFill:
        return TradeFill(
            trade_id=f"{order.client_order_id}-{number}",
            exchange_order_id=f"paper-{order.client_order_id}",
            client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
            amount=result.filled, price=result.average, fee=result.fee,
            fee_currency=order.symbol.split("/")[1], timestamp_ms=timestamp_ms)

    def _state(self, order: Order, fills: list[TradeFill]) -> OrderState:
        filled = sum((f.amount for f in fills), Decimal(0))
        cost = sum((f.amount * f.price for f in fills), Decimal(0))
        fee = sum((f.fee for f in fills), Decimal(0))
        done = filled >= order.amount
        status = "closed" if done else ("canceled" if order.status == Order.Status.CANCELED
                                        else "open")
        return OrderState(
            exchange_order_id=f"paper-{order.client_order_id}",
            client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
            type=order.type, status=status, amount=order.amount, filled=filled,
            remaining=order.amount - filled, average=(cost / filled) if filled else None,
            price=order.price, fee=fee, fee_currency=order.symbol.split("/")[1],
            timestamp_ms=order.candle_ts)


def _accepted_at(order: Order) -> int | None:
    """The newest closed candle when the paper exchange accepted `order`; None when it never
    did (an intent, or a send that died before reaching it). An order accepted before the
    exchange recorded that counts from its decision candle."""
    if order.sent_candle_ts is not None:
        return order.sent_candle_ts
    if order.status in (Order.Status.INTENT, Order.Status.UNKNOWN):
        return None
    return order.candle_ts


def _is_protective_exit(order: Order) -> bool:
    """A market exit carrying the stop or target level the platform saw touched."""
    return order.type == Order.Type.MARKET and order.stop_price is not None


def _trigger_kind(order: Order) -> str:
    return "target" if order.reason == "take_profit" else "stop"


def _fill_start(order: Order, timestamps: np.ndarray) -> tuple[int, bool]:
    """The index of the first candle `order` may fill on, and whether that candle is the one
    a protective exit's level was checked against (it then fills at the level).

    Never a candle from before the order was accepted: an ordinary order starts after both
    its decision candle and the newest candle closed when it was accepted; a protective exit
    starts on its checked candle when that was not older than that newest candle, else (it
    reached the exchange late) it is a plain market sell at the next open.
    """
    accepted = _accepted_at(order)
    if accepted is None:
        return len(timestamps), False
    if _is_protective_exit(order) and order.candle_ts >= accepted:
        index = int(np.searchsorted(timestamps, order.candle_ts, side="left"))
        return index, index < len(timestamps) and int(timestamps[index]) == order.candle_ts
    return int(np.searchsorted(timestamps, max(order.candle_ts, accepted), side="right")), False
