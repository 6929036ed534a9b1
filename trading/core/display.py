"""How numbers read wherever a person sees them: the pages' tables and the bots' thoughts.

Quote-currency money to 2 places, crypto amounts to at most 8 (trailing zeros dropped),
prices to 2 places from 1 up and more below; thousands grouped, a real minus sign. The
dashboard's template filters use these; static/js/format.js follows the same rules for
numbers the live feed updates. Pure: no Django.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

# Rounds any stored number to its places without raising (the default 28 digits would fail on
# a value stored beyond the columns' range).
_WIDE = Context(prec=200)
MINUS = "\u2212"  # a real minus sign lines up with the digits in tabular figures
AMOUNT_PLACES = 8


def _as_decimal(number: Decimal | float | int) -> Decimal:
    return number if isinstance(number, Decimal) else Decimal(str(number))


def grouped(number: Decimal | float | int, places: int) -> str:
    """1234.5 -> "1,234.50" at 2 places; −0.001 at 2 places -> "0.00" (no minus on zero)."""
    number = _as_decimal(number)
    quantum = Decimal(1).scaleb(-places)
    text = f"{abs(number.quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)):,.{places}f}"
    return (MINUS + text) if number < 0 and text.strip("0.,") else text


def amount_text(number: Decimal | float | int) -> str:
    """A crypto amount to at most 8 places, trailing zeros dropped: "0.00125", "1,250"."""
    text = grouped(number, AMOUNT_PLACES)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", MINUS) else "0"


def price_text(number: Decimal | float | int) -> str:
    """A market price: "50,000.12" from 1 up, "0.000123" below (small coins stay readable)."""
    return grouped(number, 2) if abs(_as_decimal(number)) >= 1 else amount_text(number)
