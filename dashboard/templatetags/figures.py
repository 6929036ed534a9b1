"""`{{ value|figure:"percent" }}`: one report figure in the format its kind asks for, so a
table of mixed figures (the backtest summary, the comparison) renders in one loop."""
from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat

from dashboard.templatetags.money import DASH, iso_minute, money, percent, signed_money

register = template.Library()


@register.filter
def figure(value, kind: str = "number") -> str:
    """percent (already in percent), fraction (0.001 -> 0.1 %), money, signed_money, ratio,
    count, hours, days, time (an ISO report time), text; None is "—"."""
    if value is None or value == "":
        return DASH
    if kind == "text":
        return str(value)
    if kind == "time":
        return iso_minute(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    formats = {
        "percent": lambda: percent(value),
        "fraction": lambda: percent(value * 100, 4).rstrip("0 %").rstrip(".") + " %",
        "money": lambda: money(value),
        "signed_money": lambda: signed_money(value),
        "ratio": lambda: floatformat(value, 2),
        "count": lambda: floatformat(value, 0),
        "hours": lambda: f"{floatformat(value, 1)} h",
        "days": lambda: f"{floatformat(value, 1)} days",
    }
    return formats.get(kind, lambda: floatformat(value, 2))()


@register.filter
def zip_with(values, others) -> list[tuple]:
    """Pairs of two equally long lists (a comparison row's values and its best flags)."""
    return list(zip(values, others, strict=True))
