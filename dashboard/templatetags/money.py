"""Number formats of the pages: quote-currency money to 2 places, crypto amounts to 8.

The same rules live in static/js/format.js for numbers the live feed updates.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django import template

from trading.core.display import amount_text, grouped, price_text

register = template.Library()
DASH = "—"


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


@register.filter
def money(value, places: int = 2) -> str:
    """1234.5 -> "1,234.50" (quote currency); None -> "—"."""
    number = _decimal(value)
    return DASH if number is None else grouped(number, int(places))


@register.filter
def signed_money(value) -> str:
    """P&L with its sign: "+12.30", "−4.10", "0.00"."""
    number = _decimal(value)
    if number is None:
        return DASH
    text = grouped(number, 2)
    return f"+{text}" if number > 0 and text.strip("0.,") else text


@register.filter
def crypto(value) -> str:
    """A crypto amount or price to at most 8 places, trailing zeros dropped: "0.00125"."""
    number = _decimal(value)
    return DASH if number is None else amount_text(number)


@register.filter
def price(value) -> str:
    """A market price: 2 places from 1 up, more below 1 (0.000123 stays readable)."""
    number = _decimal(value)
    return DASH if number is None else price_text(number)


@register.filter
def percent(value, places: int = 2) -> str:
    """12.345 -> "12.35 %" (the value is already in percent)."""
    number = _decimal(value)
    return DASH if number is None else f"{grouped(number, int(places))} %"


@register.filter
def pnl_class(value) -> str:
    """CSS class for a P&L figure: "pos", "neg" or ""."""
    number = _decimal(value)
    if number is None or number == 0:
        return ""
    return "pos" if number > 0 else "neg"


@register.filter
def from_ms(value) -> datetime | None:
    """Epoch milliseconds (the exchanges' unit) as an aware UTC datetime for `|date`."""
    number = _decimal(value)
    return None if number is None else datetime.fromtimestamp(float(number) / 1000, tz=UTC)


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template (parameter values by declared name)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def iso_minute(value) -> str:
    """"2024-01-02T03:04:05Z" -> "2024-01-02 03:04" (report times are UTC ISO strings)."""
    if not value:
        return DASH
    return str(value).replace("T", " ")[:16]


@register.filter
def words(value) -> str:
    """"stop_loss" -> "stop loss": engine codes read as words."""
    return str(value).replace("_", " ") if value not in (None, "") else DASH
