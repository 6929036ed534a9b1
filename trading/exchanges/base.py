"""The one small, synchronous interface every exchange implements, with its errors and values.

The engine runs in Celery worker threads, so the interface is synchronous; the live adapter
hides its asyncio client behind it. Amounts, prices and fees are `Decimal`. Every error an
adapter raises is an `ExchangeError`: a `TemporaryExchangeError` may succeed if tried again
later (reads may be retried; an order must be reconciled by its client id instead), a
`PermanentExchangeError` will not. Messages never contain API keys or secrets.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from trading.exchanges.limits import MarketRules

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop_limit"]
OrderStatus = Literal["open", "closed", "canceled", "rejected", "expired"]

SIDES: tuple[str, ...] = ("buy", "sell")
ORDER_TYPES: tuple[str, ...] = ("market", "limit", "stop_limit")
# Orders that carry a limit price (a stop-limit becomes a limit order once triggered).
PRICED_TYPES: frozenset[str] = frozenset({"limit", "stop_limit"})
FINAL_STATUSES: frozenset[str] = frozenset({"closed", "canceled", "rejected", "expired"})


# --- Errors ------------------------------------------------------------------------------


class ExchangeError(Exception):
    """Base of every error an exchange adapter raises; the message is safe to log and show."""


class TemporaryExchangeError(ExchangeError):
    """Network failure, timeout, 5xx or exchange unavailable: the outcome is unknown.

    Reads may be retried. A `create_order` that raises this may still have been accepted, so
    the caller looks the order up by its client id before deciding to send it again.
    """


class RateLimited(TemporaryExchangeError):
    """The exchange asked us to slow down; `retry_after` is in seconds when it said how long."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentExchangeError(ExchangeError):
    """The exchange refused the request; sending it again unchanged gives the same answer."""


class AuthenticationError(PermanentExchangeError):
    """The credentials are wrong, expired, or lack the permission for this action."""


class InsufficientFunds(PermanentExchangeError):
    """The account does not hold enough of the currency the order needs."""


class InvalidOrder(PermanentExchangeError):
    """The order breaks a market rule (precision, minimum amount or notional, order type)."""


class DuplicateClientOrderId(InvalidOrder):
    """The exchange already holds an order with this client order id: look it up, do not resend."""


class OrderNotFound(PermanentExchangeError):
    """No order with that id (exchange or client) exists on the exchange for this symbol."""


# --- Values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRequest:
    """An order to place. `price` is required for limit and stop-limit orders.

    On a market order `price` is optional and never sent: it is the price the caller expects,
    used only to check the market's minimum notional before anything leaves the process.
    A "stop_limit" order rests at the exchange untriggered until the market trades through
    `stop_price`, then works as a limit order at `price` (a sell stop: price <= stop_price).
    """

    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None
    client_order_id: str
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise InvalidOrder(f"order side must be one of {SIDES}, not {self.side!r}")
        if self.type not in ORDER_TYPES:
            raise InvalidOrder(f"order type must be one of {ORDER_TYPES}, not {self.type!r}")
        if not self.amount > 0:
            raise InvalidOrder(f"order amount must be positive, not {self.amount}")
        if self.type in PRICED_TYPES and (self.price is None or not self.price > 0):
            raise InvalidOrder(f"a {self.type} order needs a positive price")
        if self.type == "stop_limit" and (self.stop_price is None or not self.stop_price > 0):
            raise InvalidOrder("a stop_limit order needs a positive trigger (stop_price)")
        if not self.client_order_id:
            raise InvalidOrder("an order needs a client order id (it makes placement idempotent)")


@dataclass(frozen=True)
class OrderState:
    """An order as the exchange last reported it.

    `fee` is what the exchange reported with the order; exchanges whose order endpoints do
    not report fees (binance's order lookups) give 0 with `fee_currency` None, and the true
    fees arrive with the fills (`TradeFill`).
    """

    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    remaining: Decimal
    average: Decimal | None
    price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    timestamp_ms: int
    stop_price: Decimal | None = None  # the trigger of a stop order

    @property
    def is_final(self) -> bool:
        """True once the order can no longer fill (closed, canceled, rejected or expired)."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class TradeFill:
    """One execution of an order; `trade_id` is unique per exchange and symbol."""

    trade_id: str
    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    timestamp_ms: int


@dataclass(frozen=True)
class Balance:
    """Holdings of one currency: `free` can be spent, `used` is locked in open orders."""

    currency: str
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class Ticker:
    """The latest price of a market; bid/ask are None when the source has no order book."""

    symbol: str
    last: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    timestamp_ms: int | None


@dataclass(frozen=True)
class AccountPermissions:
    """What an API key may do, as the exchange reports it; None where the exchange is silent."""

    can_trade: bool | None
    can_withdraw: bool | None
    ip_restricted: bool | None


# The finest amount the engine orders (8 places, a satoshi): the lot size of an exchange
# that has none of its own (paper) or whose precision is not a fixed step.
LEDGER_AMOUNT_STEP = Decimal("0.00000001")


def round_down_to_step(amount: Decimal, step: Decimal) -> Decimal:
    """`amount` rounded down to a whole multiple of `step` (exact; 0 below one step)."""
    if step <= 0:
        raise ValueError(f"an amount step must be positive, not {step}")
    return (amount // step) * step if amount > 0 else Decimal(0)


# --- The interface -------------------------------------------------------------------------


@runtime_checkable
class Exchange(Protocol):
    """What the engine, reconciliation and market data need from any exchange.

    Implementations: `live.LiveExchange` (ccxt), the DB-backed paper exchange, and
    `replay.ReplayExchange` (market data only). Every method may raise `ExchangeError`.
    """

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                    limit: int | None = None) -> list[list]:
        """ccxt rows `[ts_ms, open, high, low, close, volume]`, oldest first, closed candles
        and the current one as the exchange returns them."""
        ...

    def fetch_ticker(self, symbol: str) -> Ticker:
        """The latest price of `symbol`."""
        ...

    def create_order(self, request: OrderRequest) -> OrderState:
        """Place an order once. Never retried inside: when the answer is lost this raises
        `TemporaryExchangeError` and the caller reconciles by `request.client_order_id`."""
        ...

    def fetch_order(self, symbol: str, *, exchange_order_id: str | None = None,
                    client_order_id: str | None = None) -> OrderState:
        """One order by either id; `OrderNotFound` when the exchange does not know it."""
        ...

    def cancel_order(self, symbol: str, exchange_order_id: str) -> OrderState:
        """Cancel an open order and return its final state."""
        ...

    def fetch_balance(self) -> dict[str, Balance]:
        """Balances by currency code."""
        ...

    def fetch_open_orders(self, symbol: str) -> list[OrderState]:
        """Orders of `symbol` that can still fill."""
        ...

    def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[TradeFill]:
        """Our fills on `symbol`, oldest first."""
        ...

    def fetch_order_trades(self, symbol: str, state: OrderState) -> list[TradeFill]:
        """The executions of the order `state` describes."""
        ...

    def amount_step(self, symbol: str) -> Decimal:
        """The lot size of `symbol`: order amounts are whole multiples of it (the ledger rounds
        an exit down to it, so an exit never offers more than the bot holds)."""
        ...

    def market_rules(self, symbol: str) -> MarketRules:
        """Lot size, minimum amount and minimum value of `symbol` (trading.exchanges.limits),
        which every order is checked against before it is sent."""
        ...

    def close(self) -> None:
        """Release connections; the object is not used afterwards."""
        ...
