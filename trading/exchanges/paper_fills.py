"""How a paper order fills against the next candle: pure arithmetic, Decimal in and out.

The paper exchange decides on the close of candle i and fills on candle i+1, so no order ever
trades on a price it was decided from. The rules:

- market: at the open of the next candle, worsened by slippage (a buy pays more, a sell gets
  less), taker fee;
- limit buy: fills when the candle's low reaches the limit, at min(open, limit); limit sell:
  when the high reaches it, at max(open, limit). An order that is resting on the book fills
  at its limit as a maker. An order *arriving* at the open that is already marketable there
  (a buy limit at or above the open) takes liquidity: it fills at the open as a taker;
- a protective exit (a stop loss or take profit the platform saw touched) fills on the candle
  its level was checked against, at the level, or at the open when the candle opened beyond
  it (a gap), worsened by slippage, taker fee: the backtester's rule (trading.core.risk);
- no order takes more than `max_volume_fraction` of the candle's volume; the rest remains;
- fee = rate × notional, in the quote currency.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from trading.exchanges.base import ORDER_TYPES, SIDES, InvalidOrder

ZERO = Decimal(0)


@dataclass(frozen=True)
class FillConfig:
    """Costs and liquidity of simulated trading; fractions, e.g. 0.001 = 0.1 %."""

    slippage: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    max_volume_fraction: Decimal = Decimal("0.1")

    def __post_init__(self) -> None:
        for name in ("slippage", "maker_fee", "taker_fee"):
            if not ZERO <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be a fraction in [0, 1)")
        if not ZERO < self.max_volume_fraction <= 1:
            raise ValueError("max_volume_fraction must be in (0, 1]")


@dataclass(frozen=True)
class Bar:
    """The candle an order fills against (the one after the decision)."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def from_row(cls, row: Sequence) -> Bar:
        """From a ccxt row `[ts, open, high, low, close, volume]` (floats become Decimals
        through their shortest repr, so 50000.1 stays 50000.1)."""
        return cls(*(Decimal(str(value)) for value in row[1:6]))


@dataclass(frozen=True)
class SimulatedFill:
    """What filled on one candle; `average` is None when nothing filled."""

    filled: Decimal
    average: Decimal | None
    fee: Decimal
    remaining: Decimal
    is_maker: bool

    @property
    def notional(self) -> Decimal:
        """Quote value of what filled (before fees)."""
        return self.filled * self.average if self.average is not None else ZERO


def simulate_fill(*, side: str, type: str, amount: Decimal, limit_price: Decimal | None,
                  bar: Bar, config: FillConfig, resting: bool = False) -> SimulatedFill:
    """Fill an order of `amount` (base currency) against `bar`.

    `resting` says the limit order was already on the book before this candle opened (it
    was placed earlier and not filled); a new order arrives at this candle's open.
    """
    _check_order(side, type, amount, limit_price)
    if type == "market":
        price, is_maker = _slipped(bar.open, side, config.slippage), False
    else:
        touched = _limit_touch(side, limit_price, bar, resting)
        if touched is None:
            return _nothing(amount)
        price, is_maker = touched
    filled = min(amount, config.max_volume_fraction * bar.volume)
    if filled <= 0:
        return _nothing(amount, is_maker)
    rate = config.maker_fee if is_maker else config.taker_fee
    return SimulatedFill(filled=filled, average=price, fee=rate * filled * price,
                         remaining=amount - filled, is_maker=is_maker)


def simulate_trigger_fill(*, side: str, amount: Decimal, trigger_price: Decimal, kind: str,
                          bar: Bar, config: FillConfig) -> SimulatedFill:
    """Fill a protective exit of `amount` against the candle its `trigger_price` was checked
    against; nothing fills when that candle never reached the level.

    `kind` is "stop" (a sell stop is hit when the price falls to it) or "target" (a sell take
    profit when it rises to it; a buy mirrors both). A candle that opens beyond the level
    fills at its open, never at a price better than the market gave.
    """
    if kind not in TRIGGER_KINDS:
        raise InvalidOrder(f"a trigger is a stop or a target, not {kind!r}")
    _check_order(side, "limit", amount, trigger_price)
    falling = (kind == "stop") == (side == "sell")
    if (bar.low > trigger_price) if falling else (bar.high < trigger_price):
        return _nothing(amount)
    quote = min(bar.open, trigger_price) if falling else max(bar.open, trigger_price)
    filled = min(amount, config.max_volume_fraction * bar.volume)
    if filled <= 0:
        return _nothing(amount)
    price = _slipped(quote, side, config.slippage)
    return SimulatedFill(filled=filled, average=price, fee=config.taker_fee * filled * price,
                         remaining=amount - filled, is_maker=False)


TRIGGER_KINDS = ("stop", "target")


def _check_order(side: str, type: str, amount: Decimal, limit_price: Decimal | None) -> None:
    if side not in SIDES or type not in ORDER_TYPES:
        raise InvalidOrder(f"cannot simulate a {side!r} {type!r} order")
    if not amount > 0:
        raise InvalidOrder(f"order amount must be positive, not {amount}")
    if type == "limit" and (limit_price is None or not limit_price > 0):
        raise InvalidOrder("a limit order needs a positive price")


def _slipped(price: Decimal, side: str, slippage: Decimal) -> Decimal:
    """The price a taker gets: worse by `slippage` in the direction of the trade."""
    return price * (1 + slippage) if side == "buy" else price * (1 - slippage)


def _limit_touch(side: str, limit: Decimal, bar: Bar, resting: bool
                 ) -> tuple[Decimal, bool] | None:
    """(price, is_maker) when the bar reaches the limit, else None."""
    buying = side == "buy"
    if (bar.low > limit) if buying else (bar.high < limit):
        return None
    marketable_at_open = bar.open <= limit if buying else bar.open >= limit
    if marketable_at_open and not resting:
        return bar.open, False  # an arriving marketable order takes at the open
    # A resting order is hit at its own price, however far the market gaps through it.
    return limit, True


def _nothing(amount: Decimal, is_maker: bool = False) -> SimulatedFill:
    return SimulatedFill(filled=ZERO, average=None, fee=ZERO, remaining=amount,
                         is_maker=is_maker)
