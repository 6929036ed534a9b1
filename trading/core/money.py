"""Money limits: the one definition of what capital, balances, prices and fees may be.

Every surface takes its bounds from here: the web forms and API serializers build their fields
from `MoneyLimit.field_kwargs()`, the model fields carry a validator of the same limit (so the
admin enforces it), the services call `MoneyLimit.check` (so no surface can skip it) and the
backtest config checks its cash and fee rates against the same limits.

The money columns hold 28 digits, 12 of them after the point, so at most 16 before it. What a
person enters stops at 10^12; what the ledger accumulates (balances, P&L, equity) may grow
to `LEDGER_CEILING` = 10^15. That leaves room for sums over many bots and for amount × price
products without ever reaching the columns' capacity. The engine checks stored values against
these limits before it trades on them (`bot_money_problem`), so a value written some other
way (a raw UPDATE, a row from before the limits existed) pauses one bot with its reason
instead of failing a tick batch.

Pure Python: the backtester imports it, and it never touches the ORM.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from trading.core.errors import ValidationFailed

# Wide enough for any value a column, a form or a raw UPDATE can hold, so that reading the
# digits of an out-of-range number never raises while it is being judged.
_WIDE = Context(prec=200)
LEDGER_CEILING = Decimal("1000000000000000")  # 10^15


@dataclass(frozen=True)
class MoneyLimit:
    """An inclusive range and a precision for one kind of money value."""

    label: str
    minimum: Decimal
    maximum: Decimal
    decimal_places: int

    @property
    def max_digits(self) -> int:
        """Digits a form or serializer field must allow: the maximum's, plus the places."""
        return len(str(int(self.maximum))) + self.decimal_places

    def field_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of a Django form or DRF DecimalField enforcing this limit."""
        return {"max_digits": self.max_digits, "decimal_places": self.decimal_places,
                "min_value": self.minimum, "max_value": self.maximum}

    def describe(self) -> str:
        """The bounds in words, for help texts and error messages."""
        return (f"from {plain(self.minimum)} to {grouped(self.maximum)}, with at most "
                f"{self.decimal_places} decimal places")

    def problem(self, value: Any) -> str | None:
        """Why `value` is outside this limit, or None when it is inside."""
        number = as_decimal(value)
        if number is None:
            return f"{self.label} must be a number."
        if number < self.minimum:
            return f"{self.label} must be at least {plain(self.minimum)}."
        if number > self.maximum:
            return f"{self.label} must be at most {grouped(self.maximum)}."
        if decimal_places(number) > self.decimal_places:
            return f"{self.label} can have at most {self.decimal_places} decimal places."
        return None

    def check(self, value: Any, *, field: str) -> Decimal:
        """`value` as a Decimal; ValidationFailed naming `field` when it is out of range."""
        problem = self.problem(value)
        if problem is not None:
            raise ValidationFailed(problem, field=field)
        return as_decimal(value)


_ONE_UNIT = Decimal("0.00000001")
CAPITAL = MoneyLimit("Capital", _ONE_UNIT, Decimal("1000000000000"), 8)
PAPER_BALANCE = MoneyLimit("The paper balance", _ONE_UNIT, Decimal("1000000000000"), 8)
# Zero is a valid cap: the bot may then only sell what it holds.
ORDER_VALUE = MoneyLimit("The maximum order value", Decimal(0), Decimal("1000000000000"), 8)
FEE_RATE = MoneyLimit("A fee rate", Decimal(0), Decimal("0.1"), 6)
SLIPPAGE = MoneyLimit("Slippage", Decimal(0), Decimal("0.1"), 6)
# The share of a position a manual exit sells (1: all of it).
EXIT_FRACTION = MoneyLimit("The share to sell", Decimal("0.01"), Decimal(1), 4)
PRICE = MoneyLimit("A price", Decimal("0.000000000001"), Decimal("1000000000000"), 12)
AMOUNT = MoneyLimit("An amount", Decimal(0), LEDGER_CEILING, 12)
# What the ledger accumulates: balances, realized P&L, equity (either sign).
LEDGER = MoneyLimit("A ledger value", -LEDGER_CEILING, LEDGER_CEILING, 12)

LIMITS: dict[str, MoneyLimit] = {
    "capital": CAPITAL, "paper_balance": PAPER_BALANCE, "order_value": ORDER_VALUE,
    "fee_rate": FEE_RATE, "slippage": SLIPPAGE, "price": PRICE, "amount": AMOUNT,
    "ledger": LEDGER,
}


def as_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a Decimal, int, str or float (by its repr); else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(
            value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def decimal_places(number: Decimal) -> int:
    """Significant places after the point: 1.50 has 1, 1000.000 has 0."""
    exponent = number.normalize(_WIDE).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def plain(number: Decimal) -> str:
    """Fixed-point text without trailing zeros: 0.00000001, 1000."""
    text = format(number.normalize(_WIDE), "f")
    return text


def grouped(number: Decimal) -> str:
    """1000000000000 -> "1,000,000,000,000" (whole numbers; others as `plain`)."""
    return f"{int(number):,}" if number == int(number) else plain(number)


def first_problem(values: Iterable[tuple[MoneyLimit, str, Any]]) -> str | None:
    """The first (limit, what, value) whose value is set and out of range, in words."""
    for limit, what, value in values:
        if value is not None and limit.problem(value) is not None:
            shown = plain(value) if isinstance(value, Decimal) else repr(value)
            return f"{what} {shown} is outside the allowed range ({limit.describe()})"
    return None


def bot_money_problem(bot: Any) -> str | None:
    """Why the stored money settings of `bot` (and its account) cannot be traded on, or None.

    Reads attributes only (no query): a tick calls it on every bot it loads.
    """
    account = bot.account
    return first_problem([
        (CAPITAL, "capital", bot.capital),
        (ORDER_VALUE, "maximum order value", bot.max_order_value),
        (LEDGER, "realized P&L", bot.realized_pnl),
        (LEDGER, "peak equity", bot.peak_equity),
        (FEE_RATE, "maker fee", account.maker_fee),
        (FEE_RATE, "taker fee", account.taker_fee),
        (SLIPPAGE, "slippage", account.slippage),
    ])
